package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/progress"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, as documented: scripts and CI branch on them.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitLockHeld = 3
)

type streams struct {
	in       io.Reader
	out, err io.Writer
}

// usageError is bad input on the command line: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// app holds one invocation's flags and streams; commands read it, nothing mutates it
// after flag parsing.
type app struct {
	streams
	env        string
	configPath string
	region     string
	registry   string
	profile    string
	stateLoc   string
	output     string
	yes        bool
	verbose    bool
	timeout    time.Duration
	traceCalls string
	recorder   *awsclients.Recorder
	// cfg is loaded and validated before any command runs, so bad input never reaches AWS.
	cfg *config.Config
	// emitted records that the command's result document went to stdout.
	emitted bool
	// began is when the invocation started: the summary's duration counts from it.
	began time.Time

	progressOnce sync.Once
	prog         *progress.Renderer
}

func (a *app) json() bool { return a.output == "json" }

func (a *app) workspaceOptions() workspace.Options {
	return workspace.Options{
		Env: a.env, ConfigPath: a.configPath, Region: a.region, Registry: a.registry, Profile: a.profile,
		StateLocation: a.stateLoc, Version: version, Recorder: a.recorder,
		Log:     func(level, msg string) { a.progress().Log("AWS SDK", level, msg) },
		Outputs: phases.Outputs,
	}
}

// open connects to AWS and the state.
func (a *app) open(ctx context.Context) (*workspace.Workspace, error) {
	return workspace.Open(ctx, a.cfg, a.workspaceOptions())
}

// progressf writes progress for people: to stderr, never mixed into data on stdout.
func (a *app) progressf(format string, args ...any) {
	a.progress().Notef(format, args...)
}

// progress is the invocation's one progress renderer, on stderr: made on first use,
// once the --output flag is known.
func (a *app) progress() *progress.Renderer {
	a.progressOnce.Do(func() {
		a.prog = progress.New(a.err, progress.DetectMode(a.err, a.json(), os.Getenv), a.began, nil)
	})
	return a.prog
}

// emit writes a command's result: JSON when asked for, else the text form.
func (a *app) emit(data any, text func(w io.Writer)) error {
	if a.json() {
		a.emitted = true
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(data)
	}
	text(a.out)
	return nil
}

// checkFlags validates the global flags, before anything is read or reached.
func (a *app) checkFlags() error {
	if !slices.Contains(config.EnvNames(), a.env) {
		return usagef("--env: unknown environment %q (want %s)", a.env, strings.Join(config.EnvNames(), ", "))
	}
	if a.output != "text" && a.output != "json" {
		return usagef("--output: want text or json, got %q", a.output)
	}
	if a.timeout < 0 {
		return usagef("--timeout: must not be negative")
	}
	return nil
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "fvdeploy",
		Short: "Deploy a FastAPI service to AWS ECS Fargate, highly available, and keep it there",
		Long: `fvdeploy takes a small FastAPI service from source to a highly available deployment on
AWS: image in ECR, a VPC over two AZs, a public ALB, credentials in Secrets Manager, the
service on ECS Fargate with autoscaling, DNS/TLS/WAF, alarms and a CI/CD role. Every
command is safe to re-run: it converges on what the config declares, and records what it
created in a state file (local, or S3 for teams and CI).

Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 state lock held.`,
		Example: `  fvdeploy plan --env prod      # what up would change
  fvdeploy up --env prod        # every phase, in order
  fvdeploy status --env prod    # what is deployed
  fvdeploy destroy --env dev    # remove everything fvdeploy created for dev`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if err := a.checkFlags(); err != nil {
				return err
			}
			cfg, err := workspace.LoadConfig(a.workspaceOptions())
			a.cfg = cfg
			return err
		},
	}
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })

	f := root.PersistentFlags()
	f.StringVar(&a.env, "env", "dev", "environment: dev, hml or prod")
	f.StringVar(&a.configPath, "config", "", "config file (default fvdeploy.yaml when present)")
	f.StringVar(&a.region, "region", "", "AWS region (default: fvdeploy.yaml, then AWS_REGION or the profile's)")
	f.StringVar(&a.registry, "registry", "", "push images to this registry host[:port] instead of the account's ECR (default: image.registry in fvdeploy.yaml)")
	f.StringVar(&a.profile, "profile", "", "AWS shared config profile (default: AWS_PROFILE or the default chain)")
	f.StringVar(&a.stateLoc, "state", "", "state location: a local folder (default .fvdeploy) or s3://bucket/prefix; env E's state is E.json there")
	f.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	f.BoolVarP(&a.yes, "yes", "y", false, "answer yes to confirmations (required for destroy without a terminal)")
	f.BoolVarP(&a.verbose, "verbose", "v", false, "end with every resource or check, unchanged and passed ones too, not only what changed or failed")
	f.DurationVar(&a.timeout, "timeout", 45*time.Minute, "give up after this long (0 for no limit)")
	f.StringVar(&a.traceCalls, "trace-calls", "", "write every AWS API call made to this file, one JSON object per line")
	_ = f.MarkHidden("trace-calls")

	root.AddCommand(
		newUpCmd(a), newPlanCmd(a), newPhaseCmd(a), newBuildCmd(a), newDeployCmd(a), newRollbackCmd(a), newValidateCmd(a),
		newStatusCmd(a), newDiagramCmd(a), newDoctorCmd(a), newLogsCmd(a), newDestroyCmd(a), newUnlockCmd(a), newSecretsCmd(a), newVersionCmd(a),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.HasSubCommands() {
			requireSubcommand(c)
		}
	}
	return root
}

// requireSubcommand makes a command that only groups others (completion, secrets) refuse
// an unknown subcommand with exit 2; cobra would print the help and exit 0. Alone, it
// still shows the help.
func requireSubcommand(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		return usagef("unknown command %q for %q (want %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))
	}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, s streams) int {
	a := &app{streams: s, recorder: &awsclients.Recorder{}, began: time.Now()}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if a.traceCalls != "" {
		if terr := writeTrace(a.traceCalls, a.recorder.Calls()); terr != nil && err == nil {
			err = terr
		}
	}
	// The last progress event under --output json (stdout holds the result); on a
	// terminal it clears a status line left drawn.
	command := ""
	if cmd, _, ferr := root.Find(args); ferr == nil && cmd != nil {
		command = strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
	}
	p := a.progress()
	if err == nil {
		p.Summary(command, true)
		return exitOK
	}
	code := exitCode(err)
	// stdout holds one JSON document: the result when there is one (the exit code says
	// it failed), else this error object.
	if a.json() && !a.emitted {
		_ = json.NewEncoder(a.out).Encode(map[string]any{"error": err.Error(), "exit_code": code})
	}
	p.Error(err, code)
	if code == exitUsage && isCobraUsage(err) && !a.json() {
		fmt.Fprintln(a.err, "Run 'fvdeploy --help' for usage.")
	}
	p.Summary(command, false)
	return code
}

func exitCode(err error) int {
	var usage *usageError
	var held *state.LockHeldError
	var unknownPhase *phases.UnknownPhaseError
	switch {
	case errors.As(err, &held):
		return exitLockHeld
	case errors.As(err, &usage), errors.Is(err, config.ErrInvalid), errors.As(err, &unknownPhase), isCobraUsage(err),
		// Where to deploy and as whom are input too: the message says what to set.
		errors.Is(err, awsclients.ErrNoRegion), errors.Is(err, awsclients.ErrNoCredentials):
		return exitUsage
	}
	return exitFailed
}

// isCobraUsage recognises cobra's own argument errors, which it returns as plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	var usage *usageError
	return errors.As(err, &usage)
}

// tracedCall is one line of the --trace-calls file.
type tracedCall struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Mutating  bool   `json:"mutating"`
}

func writeTrace(path string, calls []awsclients.Call) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing --trace-calls file: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, c := range calls {
		if err := enc.Encode(tracedCall{Service: c.Service, Operation: c.Operation, Mutating: c.Mutating()}); err != nil {
			f.Close()
			return fmt.Errorf("writing --trace-calls file: %w", err)
		}
	}
	return f.Close()
}

// withTimeout applies --timeout to a command's context.
func (a *app) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.timeout)
}
