package diagram

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// TestSVGLayout checks the drawing's geometry on both golden models and on prod with
// account-length IDs: no arrow label on a box, and every arrow starting and ending on a box's
// border (or the internet's).
func TestSVGLayout(t *testing.T) {
	long := prodModel()
	for i := range long.VPC.AZs {
		az := &long.VPC.AZs[i]
		az.Public.ID, az.Private.ID = "subnet-a660650e6de62488f", "subnet-6582acfab50002acc"
		az.NAT, az.EgressNAT = "nat-6c01615b1094b1bb"+strconv.Itoa(i), "nat-6c01615b1094b1bb"+strconv.Itoa(i)
	}
	long.VPC.ID = "vpc-2ee30da0b5e9a4cc4"
	for name, m := range map[string]*Model{"prod": prodModel(), "dev": devModel(), "prod with long IDs": long} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := SVG(&b, m); err != nil {
				t.Fatal(err)
			}
			var boxes, patches []rect
			var lines [][]pt
			var ellipse rect
			dec := xml.NewDecoder(&b)
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				se, ok := tok.(xml.StartElement)
				if !ok {
					continue
				}
				a := map[string]string{}
				for _, at := range se.Attr {
					a[at.Name.Local] = at.Value
				}
				f := func(k string) float64 { v, _ := strconv.ParseFloat(a[k], 64); return v }
				switch {
				case se.Name.Local == "rect" && strings.HasPrefix(a["class"], "res"):
					boxes = append(boxes, rect{f("x"), f("y"), f("width"), f("height")})
				case se.Name.Local == "rect" && a["class"] == "patch":
					patches = append(patches, rect{f("x"), f("y"), f("width"), f("height")})
				case se.Name.Local == "ellipse":
					ellipse = rect{f("cx") - f("rx"), f("cy") - f("ry"), 2 * f("rx"), 2 * f("ry")}
				case se.Name.Local == "polyline":
					var pts []pt
					for _, p := range strings.Fields(a["points"]) {
						x, y, _ := strings.Cut(p, ",")
						px, _ := strconv.ParseFloat(x, 64)
						py, _ := strconv.ParseFloat(y, 64)
						pts = append(pts, pt{px, py})
					}
					lines = append(lines, pts)
				}
			}
			for _, p := range patches {
				for _, r := range boxes {
					if p.x < r.right() && r.x < p.right() && p.y < r.bottom() && r.y < p.bottom() {
						t.Errorf("label patch %+v overlaps box %+v", p, r)
					}
				}
			}
			onBorder := func(p pt) bool {
				for _, r := range append(boxes, ellipse) {
					inX, inY := p.x >= r.x-0.01 && p.x <= r.right()+0.01, p.y >= r.y-0.01 && p.y <= r.bottom()+0.01
					if (inX && (near(p.y, r.y) || near(p.y, r.bottom()))) || (inY && (near(p.x, r.x) || near(p.x, r.right()))) {
						return true
					}
				}
				return false
			}
			for _, l := range lines {
				if !onBorder(l[0]) || !onBorder(l[len(l)-1]) {
					t.Errorf("arrow %v does not start and end on boxes' borders", l)
				}
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.01 }
