// Package state keeps what fvdeploy created for one environment: a JSON document holding
// each resource's IDs, ARNs and the few attributes later steps need, stored in a local
// directory or in S3 behind a lock, so that two runs never write it at the same time.
package state

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// FormatVersion is the newest document format this build reads and the one it writes.
const FormatVersion = 1

// Document is the state of one environment. It holds identifiers and outputs only, never a
// secret value.
type Document struct {
	Version int    `json:"version"`
	Serial  uint64 `json:"serial"` // +1 on every save
	// Lineage is set once when the document is created; a save over a document of another
	// lineage is refused, so one environment's state never overwrites another's.
	Lineage   string               `json:"lineage"`
	App       string               `json:"app"`
	Env       string               `json:"env"`
	Region    string               `json:"region"`
	Account   string               `json:"account"`
	Resources map[string]*Resource `json:"resources"` // keyed by logical key, e.g. "network/vpc"
	Outputs   map[string]string    `json:"outputs,omitempty"`
}

// Resource is one thing fvdeploy created.
type Resource struct {
	Type  string            `json:"type"` // e.g. "ec2:vpc"
	ID    string            `json:"id"`
	ARN   string            `json:"arn,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	// DependsOn lists logical keys, so that destroy can order what the config no longer
	// declares.
	DependsOn []string `json:"depends_on,omitempty"`
}

// New returns an empty document with a fresh lineage.
func New(app, env, region, account string) *Document {
	return &Document{
		Version:   FormatVersion,
		Lineage:   newLineage(),
		App:       app,
		Env:       env,
		Region:    region,
		Account:   account,
		Resources: map[string]*Resource{},
	}
}

// newLineage returns a random version-4 UUID.
func newLineage() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// randomHex returns n random bytes as hex, for lock IDs and temporary file names.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// encode gives indented JSON; encoding/json sorts map keys, so equal documents give equal
// bytes and diffs between saved versions stay readable.
func encode(doc *Document) ([]byte, error) {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// decode parses the document stored at where (named in every error).
func decode(where string, data []byte) (*Document, error) {
	// The version is read on its own first: a newer format may not fit today's struct, and
	// "upgrade fvdeploy" is the useful message then, not a type error.
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("state %s is not valid JSON: %w", where, err)
	}
	if head.Version > FormatVersion {
		return nil, fmt.Errorf("state %s was written by a newer fvdeploy (format %d; this one understands up to %d): upgrade fvdeploy",
			where, head.Version, FormatVersion)
	}
	if head.Version < 1 {
		return nil, fmt.Errorf("state %s has no valid format version (%d): it is not an fvdeploy state document", where, head.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a field this version does not know would be lost on the next save
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("state %s is not a valid state document: %w", where, err)
	}
	if doc.Resources == nil {
		doc.Resources = map[string]*Resource{}
	}
	return &doc, nil
}

// mark is what a Locked last read or saved; its next Save is conditional on it.
type mark struct {
	exists  bool
	serial  uint64
	lineage string
}

func markOf(doc *Document) mark {
	if doc == nil {
		return mark{}
	}
	return mark{exists: true, serial: doc.Serial, lineage: doc.Lineage}
}

// ConflictError means the stored document changed after this run read it: another writer
// got there first, and saving would discard its changes.
type ConflictError struct {
	Where  string
	Serial uint64 // the serial this run read
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("state %s was changed by another writer since it was read (serial %d); re-run", e.Where, e.Serial)
}

func lineageError(where, stored, saving string) error {
	return fmt.Errorf("state %s belongs to lineage %s, not %s: refusing to overwrite another state document", where, stored, saving)
}

// prepareSave bumps doc's serial and encodes it. The returned undo restores the serial
// when the write fails, so a retry does not skip a number.
func prepareSave(where string, doc *Document) ([]byte, func(), error) {
	prevSerial, prevVersion := doc.Serial, doc.Version
	doc.Serial++
	doc.Version = FormatVersion
	undo := func() { doc.Serial, doc.Version = prevSerial, prevVersion }
	data, err := encode(doc)
	if err != nil {
		undo()
		return nil, nil, fmt.Errorf("encoding state %s: %w", where, err)
	}
	return data, undo, nil
}

func errNoDocument(where string) error { return fmt.Errorf("saving state %s: no document", where) }
