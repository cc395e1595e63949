package diagram

import (
	"fmt"
	"strings"
)

// The boxes' text, shared by both renderers so that they show the same content.

func (m *Model) title() string {
	return fmt.Sprintf("AWS %s · account %s · %s-%s", m.Region, m.Account, m.App, m.Env)
}

func (v *VPC) label() string { return "VPC " + v.ID + " " + v.CIDR }

func (s Subnet) label(kind string) string { return kind + " subnet " + s.ID + " " + s.CIDR }

// The SVG's container titles: the kind and CIDR on a bold line, the ID on a smaller one,
// so that the boxes stay narrow. The words are the labels' above.
func (v *VPC) title() []string { return []string{"VPC " + v.CIDR, v.ID} }

func (s Subnet) title(kind string) []string { return []string{kind + " subnet " + s.CIDR, s.ID} }

func (a *ALB) lines() []string {
	out := []string{"Application Load Balancer", a.Name}
	for _, l := range a.Listeners {
		out = append(out, fmt.Sprintf("%s :%d → %s", l.Protocol, l.Port, l.Action))
	}
	if len(a.Listeners) == 0 {
		out = append(out, "no listeners")
	}
	return out
}

func (s *Service) lines() []string {
	if s.Status == "MISSING" {
		return []string{"ECS service " + s.Name, "missing: `fvdeploy up` creates it again"}
	}
	return []string{"ECS service " + s.Name + " (cluster " + s.Cluster + ")",
		fmt.Sprintf("%d/%d tasks running · %s", s.Running, s.Desired, s.Status)}
}

func (m *Model) alarmLines() []string {
	out := []string{fmt.Sprintf("CloudWatch alarms: %d", len(m.Alarms))}
	if f := m.Firing(); len(f) > 0 {
		out = append(out, "in ALARM: "+strings.Join(f, ", "))
	} else {
		out = append(out, "none in ALARM")
	}
	return out
}

// edgeBoxes are the regional services in front of the load balancer, in drawing order.
func (m *Model) edgeBoxes() []box {
	var out []box
	if m.Zone != "" {
		out = append(out, box{id: "zone", lines: []string{"Route 53 zone", m.Zone}, edge: "A/AAAA alias " + m.Domain})
	}
	if m.Certificate != "" {
		out = append(out, box{id: "cert", lines: []string{"ACM certificate", m.Certificate}, edge: "TLS on :443"})
	}
	if m.WAF != "" {
		out = append(out, box{id: "waf", lines: []string{"WAF web ACL", m.WAF}, edge: "filters requests"})
	}
	return out
}

// box is a labelled node and the label of its arrow to the load balancer.
type box struct {
	id    string
	lines []string
	edge  string
}

// ingress is what the internet reaches the load balancer on.
func (a *ALB) ingress() string {
	var ports []string
	for _, l := range a.Listeners {
		ports = append(ports, fmt.Sprintf("%s :%d", l.Protocol, l.Port))
	}
	return strings.Join(ports, ", ")
}

const (
	labelTG     = "HTTP :8000"
	labelEgress = "egress"
	labelOut    = "outbound"
	labelSecret = "ADMIN_USER, ADMIN_PASS at task start"
	labelNotify = "notify"
)
