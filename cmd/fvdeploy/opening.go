package main

import (
	"context"
	"os"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// decideImage is the one place a run's image is decided: the image given with --image
// (nothing is built), else a build when the image phase runs, else the image that runs.
func decideImage(given string, imagePhaseRuns bool) imagechoice.Decision {
	switch {
	case given != "":
		return imagechoice.Use(given)
	case imagePhaseRuns:
		return imagechoice.BuildNow()
	default:
		return imagechoice.Keep()
	}
}

// opening is how a command that reaches AWS opens: what differs between them.
type opening struct {
	// lock names the run in the state lock (e.g. "deploy"); "" reads the state without one.
	lock string
	// preflight runs the doctor's checks first and stops on a failure, before a change.
	preflight bool
	// untimed leaves --timeout off: logs --follow runs until interrupted.
	untimed bool
	// image is which image the run deploys; the zero value keeps what runs.
	image imagechoice.Decision
	// release and purgeData go to the phases' inputs (deploy --release, destroy
	// --purge-data).
	release   string
	purgeData bool
}

// session is an opened command: its context, the workspace and what phases declare from.
type session struct {
	ctx context.Context
	ws  *workspace.Workspace
	in  *kit.Inputs
}

// opened is the opening every command that reaches AWS shares: --timeout on the context,
// the workspace (after the doctor's checks with o.preflight), the inputs phases declare
// from, then the state, under the lock when o.lock names the run (save stores it), else
// read (save is nil). work is the command's own part.
func (a *app) opened(ctx context.Context, o opening, work func(s *session, doc *state.Document, save engine.Saver) error) error {
	if !o.untimed {
		var cancel context.CancelFunc
		ctx, cancel = a.withTimeout(ctx)
		defer cancel()
	}
	var ws *workspace.Workspace
	var err error
	if o.preflight {
		ws, err = a.preflightApply(ctx, o.image)
	} else {
		ws, err = a.open(ctx)
	}
	if err != nil {
		return err
	}
	s := &session{ctx: ctx, ws: ws, in: &kit.Inputs{
		Config: ws.Config, Account: ws.Identity.Account, Caller: ws.Identity.ARN, Region: ws.Region(), AWS: ws.Clients,
		Image: o.image, Release: o.release, PurgeData: o.purgeData,
		Getenv: os.Getenv, Progress: a.progressf, Wait: a.progress().Wait,
	}}
	if o.lock != "" {
		return ws.Locked(ctx, o.lock, func(doc *state.Document, save engine.Saver) error { return work(s, doc, save) })
	}
	doc, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	return work(s, doc, nil)
}
