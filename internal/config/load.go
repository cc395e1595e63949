package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// DefaultFile is what Load reads when given no path, if it exists.
const DefaultFile = "fvdeploy.yaml"

// Load returns the validated settings of env: its defaults, overridden by the
// file's top-level values, overridden by the file's environments.<env> values.
// With path "", DefaultFile in the working directory is read if it exists;
// an explicit path must exist.
func Load(path, env string) (*Config, error) {
	cfg, err := Defaults(env)
	if err != nil {
		return nil, err
	}
	if path == "" {
		path = DefaultFile
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return cfg, nil
		}
	}
	if err := cfg.read(path); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// origin is where a value was set in the file.
type origin struct {
	file string
	line int
	val  any // the value as read: once code changes it, the line no longer applies
}

// read applies the file at path on top of c.
func (c *Config) read(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		// The path is already in FileError; the PathError would repeat it.
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return &FileError{File: path, Err: err}
	}
	root, err := parse(path, data)
	if err != nil || root == nil {
		return err
	}
	if !isNull(root) && root.Kind != yaml.MappingNode {
		return &FileError{File: path, Line: root.Line, Err: fmt.Errorf("want a mapping at the top level, got %s", describe(root))}
	}

	l := &loader{file: path, origins: map[string]origin{}}
	cv := reflect.ValueOf(c).Elem()
	var envs *yaml.Node
	l.pairs(root, "", func(name string, k, v *yaml.Node) {
		if name == "environments" {
			envs = v // applied last, whatever its place in the file
			return
		}
		l.field(cv, name, k, v, "", "")
	})
	l.pairs(envs, "environments", func(name string, k, v *yaml.Node) {
		target := c
		if name != c.Env {
			// Other environments are decoded too (and thrown away), so that a
			// typo in prod's section shows up while working on dev.
			other, err := Defaults(name)
			if err != nil {
				l.fail(k, "environments."+name, "unknown environment (want dev, hml or prod)")
				return
			}
			target = other
		}
		sub := &loader{file: path, origins: map[string]origin{}}
		sub.value(v, reflect.ValueOf(target).Elem(), "environments."+name, "")
		l.errs = append(l.errs, sub.errs...)
		if target == c {
			maps.Copy(l.origins, sub.origins)
		}
	})
	if len(l.errs) > 0 {
		return errors.Join(l.errs...)
	}
	c.origins = l.origins
	return nil
}

// yamlError splits the library's "yaml: line N: msg" into line and message.
var yamlError = regexp.MustCompile(`(?s)^(?:yaml: )?(?:line (\d+): )?(.*)$`)

// parse returns the root node of the single document in data, or nil for a
// file with no document (empty or only comments).
func parse(file string, data []byte) (*yaml.Node, error) {
	syntax := func(err error) error {
		m := yamlError.FindStringSubmatch(err.Error())
		line, _ := strconv.Atoi(m[1]) // 0 when the library gives no line
		return &FileError{File: file, Line: line, Err: errors.New("yaml syntax: " + m[2])}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, syntax(err)
	}
	// A second document would otherwise be silently ignored.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &FileError{File: file, Line: extra.Line, Err: errors.New("yaml syntax: more than one document")}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntax(err)
	}
	return doc.Content[0], nil
}

// loader walks YAML nodes into a Config through its yaml struct tags,
// collecting every problem rather than stopping at the first.
type loader struct {
	file    string
	origins map[string]origin // by config path, e.g. "service.min"
	errs    []error
}

func (l *loader) fail(n *yaml.Node, field, format string, args ...any) {
	l.errs = append(l.errs, &FieldError{File: l.file, Line: n.Line, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// pairs calls fn for each key of the mapping n. Null (or a nil n) counts as
// an empty mapping, so a section whose keys are all commented out is fine.
func (l *loader) pairs(n *yaml.Node, path string, fn func(name string, k, v *yaml.Node)) {
	if n == nil {
		return
	}
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			l.fail(k, join(path, k.Value), "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, v)
	}
}

// field decodes n into the field of struct parent tagged name. shown is the
// path used in messages (it includes "environments.<env>" for overrides);
// key is the config path that origins are recorded under.
func (l *loader) field(parent reflect.Value, name string, k, n *yaml.Node, shown, key string) {
	shown, key = join(shown, name), join(key, name)
	if parent.Type() == reflect.TypeFor[Config]() && name == "env" {
		l.fail(k, shown, "set with --env, not in the file")
		return
	}
	t := parent.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("yaml") == name {
			l.value(n, parent.Field(i), shown, key)
			return
		}
	}
	l.fail(k, shown, "unknown field%s", suggest(name, t))
}

var want = map[reflect.Kind]string{
	reflect.String: "a string",
	reflect.Int:    "an integer",
	reflect.Bool:   "true or false",
}

func (l *loader) value(n *yaml.Node, v reflect.Value, shown, key string) {
	n = deref(n)
	switch v.Kind() {
	case reflect.Struct:
		l.pairs(n, shown, func(name string, k, val *yaml.Node) { l.field(v, name, k, val, shown, key) })
		return // only leaves have origins
	case reflect.Slice:
		if !isNull(n) && n.Kind != yaml.SequenceNode {
			l.fail(n, shown, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			l.value(e, s.Index(i), fmt.Sprintf("%s[%d]", shown, i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(s)
	case reflect.Map:
		// An environment's entries add to the top level's or replace them by name.
		if !isNull(n) && n.Kind != yaml.MappingNode {
			l.fail(n, shown, "want a mapping, got %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		l.pairs(n, shown, func(name string, k, val *yaml.Node) {
			e := reflect.New(v.Type().Elem()).Elem()
			l.value(val, e, join(shown, name), join(key, name))
			if e.Kind() == reflect.Struct {
				// The entry's own line, for problems with its name.
				l.origins[join(key, name)] = origin{l.file, k.Line, name}
			}
			v.SetMapIndex(reflect.ValueOf(name), e)
		})
		return
	default:
		if !scalar(n, v) {
			l.fail(n, shown, "want %s, got %s", want[v.Kind()], describe(n))
			return
		}
	}
	l.origins[key] = origin{l.file, n.Line, v.Interface()}
}

// scalar sets v from n if n holds a value of v's kind, reporting whether it did.
func scalar(n *yaml.Node, v reflect.Value) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	switch tag := n.ShortTag(); v.Kind() {
	case reflect.String:
		// Numbers and dates read fine as strings (a branch named 2024, a zone
		// ID); null and booleans are almost certainly mistakes.
		if tag == "!!null" || tag == "!!bool" {
			return false
		}
		v.SetString(n.Value)
		return true
	case reflect.Int:
		// Decode rejects integers that overflow int.
		return tag == "!!int" && n.Decode(v.Addr().Interface()) == nil
	case reflect.Bool:
		return tag == "!!bool" && n.Decode(v.Addr().Interface()) == nil
	}
	panic("config: no decoder for " + v.Type().String())
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe says what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// suggest names the field of t closest to a misspelt name, if one is close.
func suggest(name string, t reflect.Type) string {
	var names []string
	for i := range t.NumField() {
		names = append(names, t.Field(i).Tag.Get("yaml"))
	}
	if t == reflect.TypeFor[Config]() {
		names = append(names, "environments")
	}
	// Beyond a third of the name the guess is more likely wrong than helpful.
	best, bestDist := "", max(1, len(name)/3)+1
	for _, n := range names {
		// Distance 0 is a name not allowed at this place (env, nested environments).
		if d := distance(name, n); n != "" && n != "env" && d > 0 && d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
