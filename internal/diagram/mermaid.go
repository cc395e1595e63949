package diagram

import (
	"fmt"
	"io"
	"strings"
)

// Mermaid writes the model as a Mermaid flowchart, for READMEs and pull requests.
func Mermaid(w io.Writer, m *Model) error {
	b := &strings.Builder{}
	line := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(b, format, args...)
		b.WriteByte('\n')
	}
	node := func(indent int, id string, lines ...string) {
		line(indent, "%s[\"%s\"]", id, mermaidText(lines...))
	}
	line(0, "flowchart TB")
	line(1, "internet((\"Internet\"))")
	line(1, "subgraph region[\"%s\"]", mermaidText(m.title()))
	for _, e := range m.edgeBoxes() {
		node(2, e.id, e.lines...)
	}
	if m.Secret != "" {
		node(2, "secret", "Secrets Manager secret", m.Secret)
	}
	if len(m.Alarms) > 0 {
		node(2, "alarms", m.alarmLines()...)
	}
	if m.Topic != "" {
		node(2, "topic", "SNS topic", m.Topic)
	}
	if v := m.VPC; v != nil {
		line(2, "subgraph vpc[\"%s\"]", mermaidText(v.label()))
		if v.IGW {
			node(3, "igw", "Internet gateway")
		}
		if m.ALB != nil {
			node(3, "alb", m.ALB.lines()...)
		}
		if m.TargetGroup != "" {
			node(3, "tg", "Target group", m.TargetGroup)
		}
		if m.Service != nil {
			node(3, "svc", m.Service.lines()...)
		}
		for i, az := range v.AZs {
			line(3, "subgraph az%d[\"%s\"]", i, mermaidText(az.Name))
			line(4, "subgraph public%d[\"%s\"]", i, mermaidText(az.Public.label("public")))
			if az.NAT != "" {
				node(5, fmt.Sprintf("nat%d", i), "NAT gateway", az.NAT)
			}
			line(4, "end")
			line(4, "subgraph private%d[\"%s\"]", i, mermaidText(az.Private.label("private")))
			if m.Service != nil {
				node(5, fmt.Sprintf("tasks%d", i), "Fargate tasks")
			}
			line(4, "end")
			line(3, "end")
		}
		line(2, "end")
	}
	line(1, "end")

	if m.ALB != nil {
		front := "alb"
		if m.WAF != "" {
			front = "waf"
		}
		line(1, "internet -->|\"%s\"| %s", mermaidText(m.ALB.ingress()), front)
		for _, e := range m.edgeBoxes() {
			arrow := "-.->"
			if e.id == "waf" {
				arrow = "-->"
			}
			line(1, "%s %s|\"%s\"| alb", e.id, arrow, mermaidText(e.edge))
		}
		if m.TargetGroup != "" {
			line(1, "alb -->|\"forward\"| tg")
		}
	}
	if v := m.VPC; v != nil {
		for i, az := range v.AZs {
			if m.Service != nil {
				if m.TargetGroup != "" {
					line(1, "tg -->|\"%s\"| tasks%d", mermaidText(labelTG), i)
				}
				line(1, "svc -.- tasks%d", i)
				if j := natIndex(v, az.EgressNAT); j >= 0 {
					line(1, "tasks%d -->|\"%s\"| nat%d", i, labelEgress, j)
				}
			}
			if az.NAT != "" && v.IGW {
				line(1, "nat%d --> igw", i)
			}
		}
		if v.IGW {
			line(1, "igw -->|\"%s\"| internet", labelOut)
		}
	}
	if m.Service != nil && m.Secret != "" {
		line(1, "svc -.->|\"%s\"| secret", mermaidText(labelSecret))
	}
	if len(m.Alarms) > 0 && m.Topic != "" {
		line(1, "alarms -->|\"%s\"| topic", labelNotify)
	}
	if len(m.Firing()) > 0 {
		line(1, "classDef firing fill:#fdd,stroke:#b00020,color:#b00020")
		line(1, "class alarms firing")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// natIndex is the zone index of the NAT gateway id, or -1.
func natIndex(v *VPC, id string) int {
	for i, az := range v.AZs {
		if id != "" && az.NAT == id {
			return i
		}
	}
	return -1
}

// mermaidText escapes each line for a quoted Mermaid label and joins them with line
// breaks. Mermaid reads entity codes like #quot; inside quotes, and labels are HTML.
func mermaidText(lines ...string) string {
	r := strings.NewReplacer("#", "#35;", `"`, "#quot;", "<", "#lt;", ">", "#gt;", "&", "#amp;", "`", "#96;")
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = r.Replace(l)
	}
	return strings.Join(out, "<br/>")
}
