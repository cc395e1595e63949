package imagechoice

import "testing"

// A plan shows a build yet to push by one text, and only that text reads as pending; a
// given image, or a build once pushed, shows as its URI.
func TestDecisionText(t *testing.T) {
	const uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:0f"
	for _, tc := range []struct {
		d      Decision
		text   string
		known  bool
		builds bool
	}{
		{Keep(), "", false, false},
		{Decision{}, "", false, false},
		{Use(uri), uri, true, false},
		{BuildNow(), "(the image this run builds)", false, true},
		{Decision{Kind: Build, URI: uri}, uri, true, true},
	} {
		if got := tc.d.Text(); got != tc.text {
			t.Errorf("%+v: text %q, want %q", tc.d, got, tc.text)
		}
		if tc.d.Known() != tc.known || tc.d.Builds() != tc.builds {
			t.Errorf("%+v: known %v builds %v, want %v %v", tc.d, tc.d.Known(), tc.d.Builds(), tc.known, tc.builds)
		}
		if Pending(tc.d.Text()) != (tc.d.Builds() && !tc.known) {
			t.Errorf("%+v: Pending(%q) = %v", tc.d, tc.d.Text(), Pending(tc.d.Text()))
		}
	}
}
