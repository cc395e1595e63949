package main

import (
	"slices"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases"
)

// Which image up and plan deploy follows from --image and --phases alone: a given image
// replaces the build (the image phase is left out), else the image phase builds one when
// it runs, else what runs stays.
func TestSelectionDecidesTheImage(t *testing.T) {
	const uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:0f"
	for _, tc := range []struct {
		sel        selection
		kind       imagechoice.Kind
		imagePhase bool
	}{
		{selection{}, imagechoice.Build, true},
		{selection{image: uri}, imagechoice.Given, false},
		{selection{only: []string{"network", "cluster"}}, imagechoice.KeepRunning, false},
		{selection{only: []string{"image", "cluster"}}, imagechoice.Build, true},
		{selection{image: uri, only: []string{"image", "cluster"}}, imagechoice.Given, false},
	} {
		selected, image, err := tc.sel.phases()
		if err != nil {
			t.Fatal(err)
		}
		hasImage := slices.ContainsFunc(selected, isImagePhase)
		if image.Kind != tc.kind || hasImage != tc.imagePhase || image.Kind == imagechoice.Given && image.URI != uri {
			t.Errorf("%+v: image %+v, image phase selected %v; want kind %v, image phase %v", tc.sel, image, hasImage, tc.kind, tc.imagePhase)
		}
	}
	if _, _, err := (&selection{only: []string{"nope"}}).phases(); err == nil {
		t.Error("an unknown phase was accepted")
	}
	p, err := phases.Lookup("image")
	if err != nil {
		t.Fatal(err)
	}
	if got := decideImage("", isImagePhase(p)); got != imagechoice.BuildNow() {
		t.Errorf("phase image: %+v, want a build", got)
	}
}
