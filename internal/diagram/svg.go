package diagram

import (
	"fmt"
	"html"
	"io"
	"strings"
	"unicode/utf8"
)

// Layout in pixels. Text width is estimated (no font metrics in the standard library), so
// boxes are sized generously for it.
const (
	charW   = 7.2
	lineH   = 16
	pad     = 20
	azW     = 300
	azGap   = 20
	subnetH = 90
	sideW   = 300
)

type rect struct{ x, y, w, h float64 }

func (r rect) cx() float64     { return r.x + r.w/2 }
func (r rect) bottom() float64 { return r.y + r.h }
func (r rect) right() float64  { return r.x + r.w }

// svgDoc collects shapes and arrows; arrows are drawn last, above the boxes.
type svgDoc struct {
	shapes, arrows strings.Builder
}

func textW(s string) float64 { return float64(utf8.RuneCountInString(s)) * charW }

func linesW(lines []string) float64 {
	w := 0.0
	for _, l := range lines {
		w = max(w, textW(l))
	}
	return w + 2*pad
}

func linesH(lines []string) float64 { return float64(len(lines))*lineH + 20 }

// container is a labelled grouping box (region, VPC, AZ, subnet).
func (d *svgDoc) container(r rect, label, class string) {
	fmt.Fprintf(&d.shapes, `<rect class="%s" x="%g" y="%g" width="%g" height="%g" rx="6"/>`+"\n", class, r.x, r.y, r.w, r.h)
	fmt.Fprintf(&d.shapes, `<text class="label" x="%g" y="%g">%s</text>`+"\n", r.x+10, r.y+18, html.EscapeString(label))
}

// node is a resource box with centred lines, the first in bold.
func (d *svgDoc) node(r rect, lines []string, class string) {
	fmt.Fprintf(&d.shapes, `<rect class="%s" x="%g" y="%g" width="%g" height="%g" rx="4"/>`+"\n", class, r.x, r.y, r.w, r.h)
	for i, l := range lines {
		weight := ""
		if i == 0 {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(&d.shapes, `<text x="%g" y="%g" text-anchor="middle"%s>%s</text>`+"\n", r.cx(), r.y+22+float64(i)*lineH, weight, html.EscapeString(l))
	}
}

// arrow draws a straight arrow with its label on a white patch at the middle.
func (d *svgDoc) arrow(x1, y1, x2, y2 float64, label string, dashed bool) {
	class := "flow"
	if dashed {
		class = "flow dashed"
	}
	fmt.Fprintf(&d.arrows, `<line class="%s" x1="%g" y1="%g" x2="%g" y2="%g" marker-end="url(#arrow)"/>`+"\n", class, x1, y1, x2, y2)
	if label == "" {
		return
	}
	mx, my := (x1+x2)/2, (y1+y2)/2
	w := textW(label) + 8
	fmt.Fprintf(&d.arrows, `<rect class="patch" x="%g" y="%g" width="%g" height="18"/>`+"\n", mx-w/2, my-12, w)
	fmt.Fprintf(&d.arrows, `<text class="edge" x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", mx, my+2, html.EscapeString(label))
}

// SVG writes the model as a standalone SVG: region > VPC > AZ > subnets as nested boxes,
// the request, egress, secret and alarm paths as labelled arrows.
func SVG(w io.Writer, m *Model) error {
	d := &svgDoc{}
	internet := rect{pad, 0, 120, 50}
	region := rect{x: internet.right() + 60, y: pad}
	top := region.y + 40

	// Row of regional services in front of the load balancer.
	edges := m.edgeBoxes()
	edgeRects := make([]rect, len(edges))
	x := region.x + pad
	for i, e := range edges {
		edgeRects[i] = rect{x, top, max(220, linesW(e.lines)), linesH(e.lines)}
		x = edgeRects[i].right() + pad
	}
	vpcTop := top
	if len(edges) > 0 {
		vpcTop = edgeRects[0].bottom() + 70
	}

	// The VPC: gateway and load balancer, target group, the zones, the service.
	vpc := rect{x: region.x + pad, y: vpcTop}
	inner := vpc.y + 40
	var igw, alb, tg, svc rect
	if m.VPC != nil && m.VPC.IGW {
		igw = rect{vpc.x + pad, inner, 150, 44}
	}
	albX := vpc.x + pad + 170
	if m.ALB != nil {
		l := m.ALB.lines()
		alb = rect{albX, inner, max(260, linesW(l)), linesH(l)}
		inner = alb.bottom() + 50
	} else {
		inner += 60
	}
	if m.TargetGroup != "" {
		tg = rect{albX, inner, max(260, linesW([]string{m.TargetGroup})+40), linesH([]string{"", ""})}
		inner = tg.bottom() + 50
	}
	var azs []rect
	var nats, tasks []rect
	if m.VPC != nil {
		for i := range m.VPC.AZs {
			az := rect{vpc.x + pad + float64(i)*(azW+azGap), inner, azW, 30 + 2*subnetH + 30}
			azs = append(azs, az)
			nats = append(nats, rect{az.x + 20, az.y + 50, 130, 50})
			tasks = append(tasks, rect{az.right() - 150, az.y + 40 + subnetH + 10 + 20, 130, 44})
		}
		if len(azs) > 0 {
			inner = azs[0].bottom() + 30
		}
	}
	vpcW := max(albX+max(alb.w, tg.w)+pad-vpc.x, float64(len(azs))*(azW+azGap)+pad, 400)
	if m.Service != nil {
		l := m.Service.lines()
		svc = rect{vpc.x + pad, inner, max(vpcW-2*pad, linesW(l)), linesH(l)}
		inner = svc.bottom() + pad
		vpcW = max(vpcW, svc.w+2*pad)
	}
	vpc.w, vpc.h = vpcW, inner-vpc.y

	// Regional services beside the VPC: alarms and topic, and the secret the tasks read.
	side := vpc.right() + 80
	var alarms, topic, secret rect
	y := vpc.y
	if len(m.Alarms) > 0 {
		l := append(m.alarmLines(), alarmRows(m)...)
		alarms = rect{side, y, max(sideW, linesW(l)), linesH(l)}
		y = alarms.bottom() + 60
	}
	if m.Topic != "" {
		topic = rect{side, y, max(sideW, linesW([]string{m.Topic})), linesH([]string{"", ""})}
		y = topic.bottom() + 40
	}
	if m.Secret != "" {
		secret = rect{side, max(y, svc.y), max(sideW, linesW([]string{m.Secret})), linesH([]string{"", ""})}
		y = secret.bottom()
	}
	right := max(vpc.right(), x-pad)
	for _, r := range []rect{alarms, topic, secret} {
		right = max(right, r.right())
	}
	region.w = right + pad - region.x
	region.h = max(vpc.bottom(), y) + pad - region.y
	internet.y = vpc.y + 40

	d.container(region, m.title(), "region")
	if v := m.VPC; v != nil {
		d.container(vpc, v.label(), "vpc")
		if v.IGW {
			d.node(igw, []string{"Internet gateway"}, "res")
		}
		for i, az := range v.AZs {
			r := azs[i]
			d.container(r, az.Name, "az")
			pub := rect{r.x + 10, r.y + 30, r.w - 20, subnetH}
			priv := rect{r.x + 10, pub.bottom() + 10, r.w - 20, subnetH}
			d.container(pub, az.Public.label("public"), "public")
			d.container(priv, az.Private.label("private"), "private")
			if az.NAT != "" {
				d.node(nats[i], []string{"NAT gateway", az.NAT}, "res")
				if v.IGW {
					d.arrow(nats[i].x, nats[i].y+10, igw.cx(), igw.bottom(), "", false)
				}
			}
			if m.Service != nil {
				d.node(tasks[i], []string{"Fargate tasks"}, "res")
				if m.TargetGroup != "" {
					d.arrow(tasks[i].cx(), tg.bottom(), tasks[i].cx(), tasks[i].y, labelTG, false)
				}
				if j := natIndex(v, az.EgressNAT); j >= 0 {
					d.arrow(tasks[i].x, tasks[i].y+10, nats[j].cx(), nats[j].bottom(), labelEgress, false)
				}
			}
		}
		if v.IGW {
			d.arrow(igw.x, igw.cy(), internet.right(), internet.cy()+15, labelOut, false)
		}
	}
	fmt.Fprintf(&d.shapes, `<ellipse class="internet" cx="%g" cy="%g" rx="%g" ry="%g"/>`+"\n", internet.cx(), internet.cy(), internet.w/2, internet.h/2)
	fmt.Fprintf(&d.shapes, `<text x="%g" y="%g" text-anchor="middle" font-weight="bold">Internet</text>`+"\n", internet.cx(), internet.cy()+5)
	if m.ALB != nil {
		d.node(alb, m.ALB.lines(), "res")
		front := alb
		for i, e := range edges {
			d.node(edgeRects[i], e.lines, "res")
			if e.id == "waf" {
				front = edgeRects[i]
			}
			tx := alb.x + alb.w*float64(i+1)/float64(len(edges)+1)
			d.arrow(edgeRects[i].cx(), edgeRects[i].bottom(), tx, alb.y, e.edge, e.id != "waf")
		}
		d.arrow(internet.right(), internet.cy()-10, front.x, front.cy(), m.ALB.ingress(), false)
		if m.TargetGroup != "" {
			d.arrow(alb.cx(), alb.bottom(), tg.cx(), tg.y, "forward", false)
		}
	}
	if m.TargetGroup != "" {
		d.node(tg, []string{"Target group", m.TargetGroup}, "res")
	}
	if m.Service != nil {
		d.node(svc, m.Service.lines(), "res")
		if m.Secret != "" {
			d.arrow(svc.right(), svc.cy(), secret.x, secret.cy(), labelSecret, true)
		}
	}
	if m.Secret != "" {
		d.node(secret, []string{"Secrets Manager secret", m.Secret}, "res")
	}
	if len(m.Alarms) > 0 {
		class := "res"
		if len(m.Firing()) > 0 {
			class = "res firing"
		}
		d.node(alarms, append(m.alarmLines(), alarmRows(m)...), class)
		if m.Topic != "" {
			d.arrow(alarms.cx(), alarms.bottom(), topic.cx(), topic.y, labelNotify, false)
		}
	}
	if m.Topic != "" {
		d.node(topic, []string{"SNS topic", m.Topic}, "res")
	}

	width, height := region.right()+pad, region.bottom()+pad
	var out strings.Builder
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", width, height, width, height)
	out.WriteString(svgStyle)
	out.WriteString(d.shapes.String())
	out.WriteString(d.arrows.String())
	out.WriteString("</svg>\n")
	_, err := io.WriteString(w, out.String())
	return err
}

func (r rect) cy() float64 { return r.y + r.h/2 }

// alarmRows lists each alarm with its state, for the SVG's alarm box.
func alarmRows(m *Model) []string {
	out := make([]string, len(m.Alarms))
	for i, a := range m.Alarms {
		out[i] = a.Name + ": " + a.State
	}
	return out
}

const svgStyle = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>
<style>
rect { stroke-width: 1.5; }
.region { fill: #fafafa; stroke: #232f3e; }
.vpc { fill: #f2f8ee; stroke: #3f8624; }
.az { fill: none; stroke: #7d8998; stroke-dasharray: 6 4; }
.public { fill: #e6f2df; stroke: #3f8624; }
.private { fill: #e3ecf7; stroke: #147eba; }
.res { fill: #ffffff; stroke: #232f3e; }
.firing { fill: #fde7ea; stroke: #b00020; }
.internet { fill: #ffffff; stroke: #232f3e; stroke-width: 1.5; }
.label { font-weight: bold; fill: #232f3e; }
.flow { stroke: #333; stroke-width: 1.5; }
.dashed { stroke-dasharray: 5 4; }
.patch { fill: #ffffff; fill-opacity: 0.9; stroke: none; }
.edge { font-size: 11px; fill: #333; }
</style>
`
