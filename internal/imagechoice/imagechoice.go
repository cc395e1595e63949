// Package imagechoice is which image a run deploys: one given with --image, one the run
// builds from the work tree, or the one the service already runs. The command layer
// decides it once; the phases read it.
package imagechoice

// Kind is where the image a run deploys comes from.
type Kind int

const (
	// KeepRunning keeps the image that runs: commands that do not deploy an image (status,
	// destroy, a phase other than image) and a walk without the image phase. It is the
	// zero value, so that inputs made for reading never change what runs.
	KeepRunning Kind = iota
	// Given is an image named by URI (--image): nothing is built.
	Given
	// Build is the image the image phase builds and pushes in the same walk.
	Build
)

// pendingText stands, in a plan, for the image a build has yet to push.
const pendingText = "(the image this run builds)"

// Decision is which image a run deploys.
type Decision struct {
	Kind Kind
	// URI is the image: the one given, or the one a build pushed once it has ("" before).
	URI string
}

// Keep is the decision to keep the image that runs.
func Keep() Decision { return Decision{Kind: KeepRunning} }

// Use is the decision to deploy the image uri, built elsewhere.
func Use(uri string) Decision { return Decision{Kind: Given, URI: uri} }

// BuildNow is the decision to build the image in this run; the build fills in its URI.
func BuildNow() Decision { return Decision{Kind: Build} }

// Builds reports whether the run builds the image (and so needs Docker and git).
func (d Decision) Builds() bool { return d.Kind == Build }

// Known reports whether the image's URI is known: given, or pushed by the build.
func (d Decision) Known() bool { return d.URI != "" }

// Text is the image as a plan shows it: its URI, or for a build that has yet to push,
// what stands for it; "" when the decision keeps what runs (the caller knows that image).
func (d Decision) Text() string {
	if d.Kind == Build && d.URI == "" {
		return pendingText
	}
	return d.URI
}

// Pending reports whether shown is how Text shows a build that has yet to push: a plan's
// change to it is what a build does, not drift.
func Pending(shown string) bool { return shown == pendingText }
