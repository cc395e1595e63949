package diagram

import (
	"fmt"
	"html"
	"io"
	"strings"
	"unicode/utf8"
)

// Layout in pixels. There are no font metrics in the standard library, so text width is
// estimated from the character count, per character as wide as DejaVu Sans (the widest
// of the usual fallbacks for Helvetica) draws an average one, rounded up; boxes are sized
// from that estimate.
const (
	charW   = 8.4 // 13px
	boldW   = 9.2 // 13px bold
	smallW  = 7.2 // 11px: arrow labels and containers' second title lines
	lineH   = 16
	smallH  = 14
	pad     = 20
	headerH = 44 // a container's title, two lines
	azGap   = 20
	track   = 12 // between parallel arrow segments
	sideGap = 80 // between the VPC and the regional services beside it, at least
)

type rect struct{ x, y, w, h float64 }

func (r rect) cx() float64     { return r.x + r.w/2 }
func (r rect) cy() float64     { return r.y + r.h/2 }
func (r rect) bottom() float64 { return r.y + r.h }
func (r rect) right() float64  { return r.x + r.w }

type pt struct{ x, y float64 }

// svgDoc collects containers and boxes, then arrows above them, then the arrows' labels
// above everything, so that no line runs through a label.
type svgDoc struct {
	shapes, arrows, labels strings.Builder
}

func runes(s string) float64 { return float64(utf8.RuneCountInString(s)) }

// nodeW is the width a box needs for its lines, the first in bold.
func nodeW(lines []string) float64 {
	w := 0.0
	for i, l := range lines {
		cw := charW
		if i == 0 {
			cw = boldW
		}
		w = max(w, runes(l)*cw)
	}
	return w + 2*pad
}

func nodeH(lines []string) float64 { return float64(len(lines))*lineH + 20 }

// titleW is the width of a container's title: a bold line, then smaller ones.
func titleW(lines []string) float64 {
	w := 0.0
	for i, l := range lines {
		cw := smallW
		if i == 0 {
			cw = boldW
		}
		w = max(w, runes(l)*cw)
	}
	return w
}

// wrap breaks an arrow's label at spaces into lines of at most maxW pixels; a longer word
// keeps a line of its own.
func wrap(label string, maxW float64) []string {
	var out []string
	cur := ""
	for _, word := range strings.Fields(label) {
		switch {
		case cur == "":
			cur = word
		case runes(cur+" "+word)*smallW > maxW:
			out = append(out, cur)
			cur = word
		default:
			cur += " " + word
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// labelW and labelH are the size of a label's white patch.
func labelW(lines []string) float64 {
	w := 0.0
	for _, l := range lines {
		w = max(w, runes(l)*smallW)
	}
	return w + 10
}

func labelH(lines []string) float64 { return float64(len(lines))*smallH + 6 }

// container is a titled grouping box (region, VPC, zone, subnet): the first title line
// bold, the others smaller.
func (d *svgDoc) container(r rect, title []string, class string) {
	fmt.Fprintf(&d.shapes, `<rect class="%s" x="%g" y="%g" width="%g" height="%g" rx="6"/>`+"\n", class, r.x, r.y, r.w, r.h)
	for i, l := range title {
		cl := "label"
		if i > 0 {
			cl = "sub"
		}
		fmt.Fprintf(&d.shapes, `<text class="%s" x="%g" y="%g">%s</text>`+"\n", cl, r.x+10, r.y+18+float64(i)*smallH, html.EscapeString(l))
	}
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

// arrow draws a line through pts, which its callers keep horizontal or vertical, from a
// box's border to another's; head puts an arrowhead at the end.
func (d *svgDoc) arrow(pts []pt, dashed, head bool) {
	class := "flow"
	if dashed {
		class = "flow dashed"
	}
	coords := make([]string, len(pts))
	for i, p := range pts {
		coords[i] = fmt.Sprintf("%g,%g", p.x, p.y)
	}
	marker := ""
	if head {
		marker = ` marker-end="url(#arrow)"`
	}
	fmt.Fprintf(&d.arrows, `<polyline class="%s" points="%s"%s/>`+"\n", class, strings.Join(coords, " "), marker)
}

// label centres an arrow's label, on a white patch, at a point of its line.
func (d *svgDoc) label(at pt, lines []string) {
	if len(lines) == 0 {
		return
	}
	w, h := labelW(lines), labelH(lines)
	fmt.Fprintf(&d.labels, `<rect class="patch" x="%g" y="%g" width="%g" height="%g"/>`+"\n", at.x-w/2, at.y-h/2, w, h)
	for i, l := range lines {
		fmt.Fprintf(&d.labels, `<text class="edge" x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", at.x, at.y-h/2+14+float64(i)*smallH, html.EscapeString(l))
	}
}

// zoneLayout is where things sit inside every availability zone, as offsets from its
// subnets' left edge. Each subnet's title takes its top left corner; the arrows that cross
// a subnet's top run right of the titles, so they cross no text.
type zoneLayout struct {
	natX, natW    float64 // the NAT gateway, in the public subnet
	natUp         float64 // where the NAT's arrow to the internet gateway leaves its top
	egressIn      float64 // where the tasks' egress arrow leaves the tasks and enters the NAT
	tasksX        float64 // the tasks, in the private subnet
	tasksW        float64
	tgIn          float64 // where the target group's arrow enters the tasks, right of the NAT
	subnetW       float64
	pubH, privH   float64
	width, height float64
}

func newZoneLayout(m *Model) zoneLayout {
	var z zoneLayout
	title, natText := 0.0, 0.0
	for _, az := range m.VPC.AZs {
		title = max(title, titleW(az.Public.title("public")), titleW(az.Private.title("private")))
		if az.NAT != "" {
			natText = max(natText, nodeW([]string{"NAT gateway", az.NAT}))
		}
	}
	z.natX = 10
	z.natW = max(natText, title+70)
	z.natUp = 10 + title + 20
	z.egressIn = 10 + title + 45
	z.tasksX = 10 + title + 10
	z.tgIn = z.natX + z.natW + 12 + labelW([]string{labelTG})/2
	z.tasksW = max(nodeW([]string{"Fargate tasks"}), z.tgIn+30-z.tasksX)
	z.subnetW = max(z.natX+z.natW, z.tasksX+z.tasksW, 10+title) + 10
	z.pubH = headerH + 52 + 14
	z.privH = headerH + 44 + 14
	z.width = z.subnetW + 20
	z.height = 28 + z.pubH + 10 + z.privH + 10
	return z
}

// SVG writes the model as a standalone SVG: region > VPC > AZ > subnets as nested boxes,
// the request, egress, secret and alarm paths as labelled arrows. The internet, the WAF
// and the load balancer are on one line; the hosted zone and the certificate above the
// load balancer; the alarms, topic and secret beside the VPC.
func SVG(w io.Writer, m *Model) error {
	d := &svgDoc{}
	v := m.VPC
	n := 0
	if v != nil {
		n = len(v.AZs)
	}

	// The WAF sits between the internet and the load balancer; the other regional
	// services in front of the load balancer in a row above it.
	var waf *box
	var above []box
	for _, e := range m.edgeBoxes() {
		if e.id == "waf" && m.ALB != nil {
			waf = &e
		} else {
			above = append(above, e)
		}
	}

	internet := rect{pad, 0, 120, 50}
	region := rect{x: internet.right() + 170, y: pad}
	col := region.x + pad
	var wafR rect
	if waf != nil {
		wafR = rect{col, 0, max(160, nodeW(waf.lines)), nodeH(waf.lines)}
		col = wafR.right() + 60
	}
	vpc := rect{x: col, y: region.y + 40}

	// The row above the load balancer, and the labels of its arrows.
	aboveR := make([]rect, len(above))
	aboveL := make([][]string, len(above))
	rowW, rowH, gapH := 0.0, 0.0, 60.0
	for i, e := range above {
		aboveR[i] = rect{0, vpc.y, max(160, nodeW(e.lines)), nodeH(e.lines)}
		aboveL[i] = wrap(e.edge, aboveR[i].w)
		if i > 0 {
			rowW += pad
		}
		rowW += aboveR[i].w
		rowH = max(rowH, aboveR[i].h)
		gapH = max(gapH, labelH(aboveL[i])+30)
	}
	if len(above) > 0 {
		vpc.y += rowH + gapH
	}

	var vpcTitle []string
	if v != nil {
		vpcTitle = v.title()
	}
	var z zoneLayout
	if n > 0 {
		z = newZoneLayout(m)
	}

	// Inside the VPC: the load balancer, below it the internet gateway (left) and the
	// target group, then the lanes of the arrows to and from the zones, the zones, and
	// the ECS service under them.
	var albLines []string
	var alb, igw, tg, svc rect
	rowA := vpc.y + headerH + 10
	rowB := rowA
	if m.ALB != nil {
		albLines = m.ALB.lines()
		alb = rect{0, rowA, max(260, nodeW(albLines), rowW), nodeH(albLines)}
		rowB = alb.bottom() + 50
	}
	igw = rect{vpc.x + pad, rowB, 150, 44}
	busTop := rowB
	if v != nil && v.IGW {
		busTop = igw.bottom()
	}
	tgLines := []string{"Target group", m.TargetGroup}
	if m.TargetGroup != "" {
		tg = rect{0, rowB, max(220, nodeW(tgLines)), nodeH(tgLines)}
		busTop = max(busTop, tg.bottom())
	}
	azTop := busTop + 50 + 2*float64(n)*track
	azs := make([]rect, n)
	for i := range azs {
		azs[i] = rect{vpc.x + pad + float64(i)*(z.width+azGap), azTop, z.width, z.height}
	}
	vpcW := 400.0
	if n > 0 {
		vpcW = max(vpcW, azs[n-1].right()+pad-vpc.x)
	}
	// Centre the load balancer and the target group, clear of the gateway, with the
	// arrows from the row above crossing the VPC's top right of its title.
	cx := max(vpc.x+vpcW/2, igw.right()+40+tg.w/2, vpc.x+pad+alb.w/2)
	if len(above) > 0 {
		cx = max(cx, vpc.x+10+titleW(vpcTitle)+20-aboveR[0].w/2+rowW/2)
	}
	alb.x, tg.x = cx-alb.w/2, cx-tg.w/2
	vpcW = max(vpcW, alb.right()+pad-vpc.x, tg.right()+pad-vpc.x)
	x := cx - rowW/2
	for i := range aboveR {
		aboveR[i].x = x
		x = aboveR[i].right() + pad
	}
	wafR.y = alb.cy() - wafR.h/2

	inner := azTop
	if n > 0 {
		inner = azs[0].bottom() + 40
	}
	var svcLines []string
	if m.Service != nil {
		svcLines = m.Service.lines()
		vpcW = max(vpcW, nodeW(svcLines)+2*pad)
		svc = rect{vpc.x + pad, inner, vpcW - 2*pad, nodeH(svcLines)}
		inner = svc.bottom() + pad
	}
	vpc.w, vpc.h = vpcW, inner-vpc.y

	// Regional services beside the VPC: alarms and topic, and the secret the tasks read.
	secretL := wrap(labelSecret, 160)
	side := vpc.right() + max(sideGap, labelW(secretL)+40)
	var alarms, topic, secret rect
	alarmText := append(m.alarmLines(), alarmRows(m)...)
	topicLines := []string{"SNS topic", m.Topic}
	secretLines := []string{"Secrets Manager secret", m.Secret}
	y := vpc.y
	if len(m.Alarms) > 0 {
		alarms = rect{side, y, max(300, nodeW(alarmText)), nodeH(alarmText)}
		y = alarms.bottom() + 60
	}
	if m.Topic != "" {
		topic = rect{side, y, max(300, nodeW(topicLines)), nodeH(topicLines)}
		y = topic.bottom() + 40
	}
	if m.Secret != "" {
		secret = rect{side, y, max(300, nodeW(secretLines)), nodeH(secretLines)}
		if m.Service != nil {
			secret.y = max(y, svc.cy()-secret.h/2)
		}
		y = secret.bottom()
	}
	right := vpc.right()
	for _, r := range append([]rect{alarms, topic, secret}, aboveR...) {
		right = max(right, r.right())
	}
	region.w = right + pad - region.x
	region.h = max(vpc.bottom(), y) + pad - region.y
	internet.y = rowA
	if m.ALB != nil {
		internet.y = alb.cy() - internet.h/2
	}

	// Containers and boxes.
	d.container(region, []string{m.title()}, "region")
	var nats, tasks []rect
	var pubs []rect
	if v != nil {
		d.container(vpc, vpcTitle, "vpc")
		if v.IGW {
			d.node(igw, []string{"Internet gateway"}, "res")
		}
		for i, az := range v.AZs {
			r := azs[i]
			pub := rect{r.x + 10, r.y + 28, z.subnetW, z.pubH}
			priv := rect{r.x + 10, pub.bottom() + 10, z.subnetW, z.privH}
			pubs = append(pubs, pub)
			nats = append(nats, rect{pub.x + z.natX, pub.y + headerH, z.natW, 52})
			tasks = append(tasks, rect{priv.x + z.tasksX, priv.y + headerH, z.tasksW, 44})
			d.container(r, []string{az.Name}, "az")
			d.container(pub, az.Public.title("public"), "public")
			d.container(priv, az.Private.title("private"), "private")
			if az.NAT != "" {
				d.node(nats[i], []string{"NAT gateway", az.NAT}, "res")
			}
			if m.Service != nil {
				d.node(tasks[i], []string{"Fargate tasks"}, "res")
			}
		}
	}
	fmt.Fprintf(&d.shapes, `<ellipse class="internet" cx="%g" cy="%g" rx="%g" ry="%g"/>`+"\n", internet.cx(), internet.cy(), internet.w/2, internet.h/2)
	fmt.Fprintf(&d.shapes, `<text x="%g" y="%g" text-anchor="middle" font-weight="bold">Internet</text>`+"\n", internet.cx(), internet.cy()+5)
	if m.ALB != nil {
		d.node(alb, albLines, "res")
	}
	if waf != nil {
		d.node(wafR, waf.lines, "res")
	}
	for i, e := range above {
		d.node(aboveR[i], e.lines, "res")
	}
	if m.TargetGroup != "" {
		d.node(tg, tgLines, "res")
	}
	if m.Service != nil {
		d.node(svc, svcLines, "res")
	}
	if m.Secret != "" {
		d.node(secret, secretLines, "res")
	}
	if len(m.Alarms) > 0 {
		class := "res"
		if len(m.Firing()) > 0 {
			class = "res firing"
		}
		d.node(alarms, alarmText, class)
	}
	if m.Topic != "" {
		d.node(topic, topicLines, "res")
	}

	// The request path: internet, WAF, load balancer, target group; the zone's alias and
	// the certificate down into the load balancer.
	gap := region.x - internet.right()
	gapMid := internet.right() + gap/2
	if m.ALB != nil {
		front := alb
		if waf != nil {
			front = wafR
		}
		d.arrow([]pt{{internet.right(), alb.cy()}, {front.x, alb.cy()}}, false, true)
		d.label(pt{gapMid, alb.cy()}, wrap(m.ALB.ingress(), gap-20))
		if waf != nil {
			d.arrow([]pt{{wafR.right(), alb.cy()}, {alb.x, alb.cy()}}, false, true)
			d.label(pt{(wafR.right() + alb.x) / 2, alb.cy()}, wrap(waf.edge, alb.x-wafR.right()-20))
		}
		for i, r := range aboveR {
			d.arrow([]pt{{r.cx(), r.bottom()}, {r.cx(), alb.y}}, true, true)
			d.label(pt{r.cx(), r.bottom() + (vpc.y-r.bottom())/2}, aboveL[i])
		}
		if m.TargetGroup != "" {
			d.arrow([]pt{{alb.cx(), alb.bottom()}, {alb.cx(), tg.y}}, false, true)
			d.label(pt{alb.cx(), (alb.bottom() + tg.y) / 2}, []string{"forward"})
		}
	}

	// The zones: target group to tasks, tasks to their NAT, NATs to the internet gateway,
	// all through lanes between the target group and the zones, right of the titles.
	if v != nil {
		natRank := 0
		for i, az := range v.AZs {
			if m.Service != nil && m.TargetGroup != "" {
				in := azs[i].x + 10 + z.tgIn
				out := in
				if in < tg.x+15 || in > tg.right()-15 {
					out = tg.x + tg.w*float64(i+1)/float64(n+1)
				}
				pts := []pt{{out, tg.bottom()}}
				if out != in {
					// Arrows going left nest one way, those going right the other, so
					// that they do not cross.
					rank := i
					if in > out {
						rank = n - 1 - i
					}
					ly := busTop + 20 + float64(rank)*track
					pts = append(pts, pt{out, ly}, pt{in, ly})
				}
				d.arrow(append(pts, pt{in, tasks[i].y}), false, true)
				d.label(pt{in, pubs[i].y + 22}, []string{labelTG})
			}
			if az.NAT != "" && v.IGW {
				// The first zone's NAT enters the gateway leftmost on the lowest lane, the
				// next ones right of it on higher lanes: no crossing, and no arrow over
				// another zone.
				up := azs[i].x + 10 + z.natUp
				ix := igw.x + igw.w*float64(natRank+1)/float64(natCount(v)+1)
				ly := azTop - 20 - float64(natRank)*track
				d.arrow([]pt{{up, nats[i].y}, {up, ly}, {ix, ly}, {ix, igw.bottom()}}, false, true)
				natRank++
			}
			if m.Service != nil {
				d.arrow([]pt{{tasks[i].cx(), svc.y}, {tasks[i].cx(), tasks[i].bottom()}}, true, false)
				j := natIndex(v, az.EgressNAT)
				ex := azs[i].x + 10 + z.egressIn
				switch {
				case j == i:
					d.arrow([]pt{{ex, tasks[i].y}, {ex, nats[j].bottom()}}, false, true)
					d.label(pt{ex, (tasks[i].y + nats[j].bottom()) / 2}, []string{labelEgress})
				case j >= 0:
					// Another zone's NAT: up through this zone's empty public subnet, then
					// across at the NAT's middle, below the subnets' titles.
					side := nats[j].right()
					if j > i {
						side = nats[j].x
					}
					d.arrow([]pt{{ex, tasks[i].y}, {ex, nats[j].cy()}, {side, nats[j].cy()}}, false, true)
					d.label(pt{(ex + side) / 2, nats[j].cy()}, []string{labelEgress})
				}
			}
		}
		if v.IGW {
			d.arrow([]pt{{igw.x, igw.cy()}, {internet.cx(), igw.cy()}, {internet.cx(), internet.bottom()}}, false, true)
			d.label(pt{gapMid, igw.cy()}, []string{labelOut})
		}
	}

	// The secret the tasks read at start, and the alarms' topic.
	if m.Service != nil && m.Secret != "" {
		if svc.cy() >= secret.y && svc.cy() <= secret.bottom() {
			d.arrow([]pt{{svc.right(), svc.cy()}, {secret.x, svc.cy()}}, true, true)
			d.label(pt{(vpc.right() + secret.x) / 2, svc.cy()}, secretL)
		} else {
			mid := (vpc.right() + secret.x) / 2
			d.arrow([]pt{{svc.right(), svc.cy()}, {mid, svc.cy()}, {mid, secret.cy()}, {secret.x, secret.cy()}}, true, true)
			d.label(pt{mid, (svc.cy() + secret.cy()) / 2}, secretL)
		}
	}
	if len(m.Alarms) > 0 && m.Topic != "" {
		d.arrow([]pt{{alarms.cx(), alarms.bottom()}, {alarms.cx(), topic.y}}, false, true)
		d.label(pt{alarms.cx(), (alarms.bottom() + topic.y) / 2}, []string{labelNotify})
	}

	width, height := region.right()+pad, region.bottom()+pad
	var out strings.Builder
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", width, height, width, height)
	out.WriteString(svgStyle)
	out.WriteString(d.shapes.String())
	out.WriteString(d.arrows.String())
	out.WriteString(d.labels.String())
	out.WriteString("</svg>\n")
	_, err := io.WriteString(w, out.String())
	return err
}

// natCount is how many zones have a NAT gateway.
func natCount(v *VPC) int {
	c := 0
	for _, az := range v.AZs {
		if az.NAT != "" {
			c++
		}
	}
	return c
}

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
.sub { font-size: 11px; fill: #232f3e; }
.flow { fill: none; stroke: #333; stroke-width: 1.5; }
.dashed { stroke-dasharray: 5 4; }
.patch { fill: #ffffff; fill-opacity: 0.9; stroke: none; }
.edge { font-size: 11px; fill: #333; }
</style>
`
