package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/status"
)

func newStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show what is deployed, whether it drifted from the config, outputs and alarms",
		Long: `Show every resource fvdeploy deployed for the environment with its ID and whether the
live object still matches the config (in sync, drifted — with the fields —, missing, will be
updated to follow a dependency that will be replaced, or unknown — with the error — when it
could not be checked), what the config declares that is not deployed yet, the outputs (URL,
image), the alarms' current states and the alert subscribers. A resource that could not be
checked does not hide the others: the report is printed and the exit code is 1. It reads
only; ` + "`fvdeploy up`" + ` repairs drift.`,
		Example: `  fvdeploy status --env prod
  fvdeploy status --env prod --output json | jq -r .outputs.url`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Drift is what a plan of every phase would change: one differ, the engine's.
			// Keeping what runs, the task definition is compared with the image it runs;
			// a pending build shows on image/build instead.
			return a.opened(cmd.Context(), opening{}, func(s *session, doc *state.Document, _ engine.Saver) error {
				ctx, ws, in := s.ctx, s.ws, s.in
				resources, eng, err := a.declare(in, phases.All())
				if err != nil {
					return err
				}
				plan, err := eng.Plan(ctx, resources, doc)
				if err != nil {
					return err
				}
				deployed := phases.DeployedObjects(doc)
				alarms, err := status.Alarms(ctx, ws.Clients.CloudWatch(), deployed.Alarms)
				if err != nil {
					return err
				}
				subs, err := status.Subscriptions(ctx, ws.Clients.SNS(), deployed.AlarmTopic)
				if err != nil {
					return err
				}
				data := statusJSON{
					App: ws.Config.App, Env: ws.Config.Env, Account: ws.Identity.Account, Region: ws.Region(),
					State: ws.Backend.Where(), Serial: doc.Serial, Resources: resourceStatuses(doc, plan), Outputs: doc.Outputs,
					Alarms: alarms, Subscriptions: subs,
				}
				if err := a.emit(data, func(w io.Writer) { renderStatus(w, data) }); err != nil {
					return err
				}
				// The report is out; what could not be checked still makes it a failure.
				if err := plan.Err(); err != nil {
					return fmt.Errorf("status: not every resource could be checked: %w", err)
				}
				return nil
			})
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
	Resources     map[string]resourceStatus  `json:"resources"`
	Outputs       map[string]string          `json:"outputs"`
	Alarms        []status.AlarmState        `json:"alarms"`
	Subscriptions []status.SubscriptionState `json:"subscriptions"`
}

// resourceStatus is one resource as status shows it.
type resourceStatus struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	// Status is "in sync", "drifted", "missing" (deleted out of band), "will be updated"
	// (no drift of its own, but a dependency will be replaced and up brings it onto the
	// new one: Reason names it), "unknown" (it, or something it depends on, could not be
	// checked: Error says why), "not deployed" (declared, never created) or "not
	// declared" (up would delete it).
	Status  string          `json:"status"`
	Changes []engine.Change `json:"changes,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Error   string          `json:"error,omitempty"`
}

func resourceStatuses(doc *state.Document, plan *engine.Result) map[string]resourceStatus {
	out := map[string]resourceStatus{}
	for _, it := range plan.Items {
		rs := resourceStatus{Type: it.Type, Changes: it.Changes, Reason: it.Reason}
		rec := doc.Resources[it.Key]
		if rec != nil {
			rs.ID = rec.ID
		}
		switch {
		case it.Err != nil:
			rs.Status, rs.Error = "unknown", it.Err.Error()
		case it.Action == engine.NoOp:
			rs.Status = "in sync"
		case it.Action == engine.Create && rec == nil:
			rs.Status = "not deployed"
		case it.Action == engine.Create:
			rs.Status = "missing"
		case it.Action == engine.Delete:
			rs.Status = "not declared"
		case it.Action == engine.Update && it.Reason != "" && len(it.Changes) == 0:
			rs.Status = "will be updated"
		default:
			rs.Status = "drifted"
		}
		out[it.Key] = rs
	}
	return out
}
