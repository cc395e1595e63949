package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/tail"
)

func newLogsCmd(a *app) *cobra.Command {
	var follow bool
	var since, poll time.Duration
	var filter string
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the service's CloudWatch logs",
		Long: `Print the service's log group, all streams merged in time order. The app's JSON access
log lines are shown readably (time, method, path, status, duration); with --output json
each line is printed as the app wrote it (other lines wrapped as {"message": ...}), one
JSON object per line. --follow keeps printing new events until Ctrl-C, each about 2 s
after its time so that slightly late ones still come out in order; events that arrive
up to 30 s late are still shown, and none is shown twice.`,
		Example: `  fvdeploy logs --env prod --since 1h
  fvdeploy logs --env prod --follow --filter POST
  fvdeploy logs --env prod --follow --output json | jq 'select(.status >= 500)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since <= 0 || poll <= 0 {
				return usagef("--since and --poll must be positive")
			}
			// Following runs until interrupted, past --timeout.
			return a.opened(cmd.Context(), opening{untimed: follow}, func(s *session, doc *state.Document, _ engine.Saver) error {
				group := phases.DeployedObjects(doc).LogGroup
				if group == "" {
					return fmt.Errorf("logs: %s records no log group: run `fvdeploy up --env %s` first", s.ws.Backend.Where(), s.ws.Config.Env)
				}
				t := &tail.Tail{API: s.ws.Clients.Logs(), Group: group, Filter: filter, Poll: poll, Lag: 30 * time.Second, Hold: 2 * time.Second}
				return t.Run(s.ctx, time.Now().Add(-since), follow, func(ev tail.Event) {
					if a.json() {
						writeLogJSON(a.out, ev)
					} else {
						writeLogText(a.out, ev)
					}
				})
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new log events until interrupted")
	cmd.Flags().DurationVar(&since, "since", 10*time.Minute, "start this long ago")
	cmd.Flags().StringVar(&filter, "filter", "", "show only events containing this text")
	cmd.Flags().DurationVar(&poll, "poll", 2*time.Second, "with --follow, the wait between reads")
	return cmd
}

func writeLogJSON(w io.Writer, ev tail.Event) {
	var obj map[string]any
	if json.Unmarshal([]byte(ev.Message), &obj) == nil {
		fmt.Fprintln(w, ev.Message)
		return
	}
	b, _ := json.Marshal(map[string]any{"timestamp": ev.Timestamp.UTC().Format(time.RFC3339Nano), "stream": ev.Stream, "message": ev.Message})
	fmt.Fprintf(w, "%s\n", b)
}
