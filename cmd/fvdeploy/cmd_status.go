package main

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func newStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show what is deployed in an environment and its outputs",
		Example: `  fvdeploy status --env prod
  fvdeploy status --env prod --output json | jq -r .outputs.url`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			ws, err := a.open(ctx)
			if err != nil {
				return err
			}
			doc, err := ws.Read(ctx)
			if err != nil {
				return err
			}
			in := a.inputs(ws, "")
			alarms, err := phases.AlarmStates(ctx, in, doc)
			if err != nil {
				return err
			}
			subs, err := phases.Subscriptions(ctx, in, doc)
			if err != nil {
				return err
			}
			data := statusJSON{
				App: ws.Config.App, Env: ws.Config.Env, Account: ws.Identity.Account, Region: ws.Region(),
				State: ws.Backend.Where(), Serial: doc.Serial, Resources: doc.Resources, Outputs: doc.Outputs,
				Alarms: alarms, Subscriptions: subs,
			}
			return a.emit(data, func(w io.Writer) { renderStatus(w, data) })
		},
	}
}

type statusJSON struct {
	App           string                     `json:"app"`
	Env           string                     `json:"env"`
	Account       string                     `json:"account"`
	Region        string                     `json:"region"`
	State         string                     `json:"state"`
	Serial        uint64                     `json:"serial"`
	Resources     map[string]*state.Resource `json:"resources"`
	Outputs       map[string]string          `json:"outputs"`
	Alarms        []phases.AlarmState        `json:"alarms"`
	Subscriptions []phases.SubscriptionState `json:"subscriptions"`
}

func renderStatus(w io.Writer, s statusJSON) {
	fmt.Fprintf(w, "%s-%s (account %s, %s)\nstate: %s (serial %d)\n", s.App, s.Env, s.Account, s.Region, s.State, s.Serial)
	if len(s.Resources) == 0 {
		fmt.Fprintln(w, "Nothing deployed. Run `fvdeploy up --env "+s.Env+"` to deploy.")
		return
	}
	fmt.Fprintf(w, "%d resources:\n", len(s.Resources))
	for _, k := range slices.Sorted(maps.Keys(s.Resources)) {
		fmt.Fprintf(w, "  %-40s %-28s %s\n", k, s.Resources[k].Type, s.Resources[k].ID)
	}
	if len(s.Outputs) > 0 {
		fmt.Fprintln(w, "outputs:")
		for _, k := range slices.Sorted(maps.Keys(s.Outputs)) {
			fmt.Fprintf(w, "  %s = %s\n", k, s.Outputs[k])
		}
	}
	if len(s.Alarms) > 0 {
		fmt.Fprintln(w, "alarms:")
		for _, al := range s.Alarms {
			fmt.Fprintf(w, "  %-40s %-17s %s\n", al.Name, al.State, al.Reason)
		}
	}
	if len(s.Subscriptions) > 0 {
		fmt.Fprintln(w, "alert subscribers:")
		for _, sub := range s.Subscriptions {
			confirmed := "pending confirmation"
			if sub.Confirmed {
				confirmed = "confirmed"
			}
			fmt.Fprintf(w, "  %-6s %-40s %s\n", sub.Protocol, sub.Endpoint, confirmed)
		}
	}
}
