package observability

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/accessanalyzer"
	aatypes "github.com/aws/aws-sdk-go-v2/service/accessanalyzer/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type analyzerAPI interface {
	ListAnalyzers(ctx context.Context, in *accessanalyzer.ListAnalyzersInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.ListAnalyzersOutput, error)
	CreateAnalyzer(ctx context.Context, in *accessanalyzer.CreateAnalyzerInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.CreateAnalyzerOutput, error)
	TagResource(ctx context.Context, in *accessanalyzer.TagResourceInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.TagResourceOutput, error)
	DeleteAnalyzer(ctx context.Context, in *accessanalyzer.DeleteAnalyzerInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.DeleteAnalyzerOutput, error)
}

// accessAnalyzer is an IAM Access Analyzer analyzer with the account as its zone of
// trust: it reports every resource policy in the region that grants access to someone
// outside the account. An analyzer of the account already there is adopted; otherwise
// fvdeploy creates fvdeploy-account, one per account and region (it is account-wide,
// so not per environment).
type accessAnalyzer struct {
	in  *kit.Inputs
	api analyzerAPI
}

func (r *accessAnalyzer) Key() string         { return KeyAnalyzer }
func (r *accessAnalyzer) Type() string        { return "accessanalyzer:analyzer" }
func (r *accessAnalyzer) DependsOn() []string { return nil }

// ours reports whether an analyzer is the one this environment created: its name and
// tags survive a crash between CreateAnalyzer and saving state.
func (r *accessAnalyzer) ours(a aatypes.AnalyzerSummary) bool {
	return aws.ToString(a.Name) == analyzerName && r.in.Owns(KeyAnalyzer, a.Tags)
}

func (r *accessAnalyzer) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	var all []aatypes.AnalyzerSummary
	pages := accessanalyzer.NewListAnalyzersPaginator(r.api, &accessanalyzer.ListAnalyzersInput{Type: aatypes.TypeAccount})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the IAM Access Analyzer analyzers of the account: %w", err)
		}
		all = append(all, page.Analyzers...)
	}
	slices.SortFunc(all, func(a, b aatypes.AnalyzerSummary) int {
		return strings.Compare(aws.ToString(a.Name), aws.ToString(b.Name))
	})
	// The one state records, else the one this environment created, else any working
	// analyzer of the account (one that failed or was disabled guards nothing).
	pick, owned := -1, false
	if id := kit.RecID(rec); id != "" {
		if i := slices.IndexFunc(all, func(a aatypes.AnalyzerSummary) bool { return aws.ToString(a.Name) == id }); i >= 0 {
			pick, owned = i, recOwned(rec)
		}
	}
	if pick < 0 {
		if i := slices.IndexFunc(all, r.ours); i >= 0 {
			pick, owned = i, true
		}
	}
	if pick < 0 {
		pick = slices.IndexFunc(all, func(a aatypes.AnalyzerSummary) bool {
			return a.Status == aatypes.AnalyzerStatusActive || a.Status == aatypes.AnalyzerStatusCreating
		})
	}
	if pick < 0 {
		return nil, nil
	}
	a := all[pick]
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(a.Name), ARN: aws.ToString(a.Arn), Attrs: ownedAttrs(owned)}}
	if !owned {
		return found, nil
	}
	if a.Status == aatypes.AnalyzerStatusFailed {
		// A failed analyzer cannot be repaired in place, and blocks a new one of its name.
		found.Replace = true
		found.Changes = append(found.Changes, engine.Change{Field: "status", From: string(a.Status), To: string(aatypes.AnalyzerStatusActive)})
	}
	if from, to, drift := kit.TagDrift(r.in.Tags(KeyAnalyzer), a.Tags); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *accessAnalyzer) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	warnAccountWide(r.in, "creating IAM Access Analyzer analyzer "+analyzerName+" (zone of trust: the account)",
		"it is free, and reports every resource policy that grants access outside the account")
	// The SDK fills in the client token, so that its own retries cannot create two.
	out, err := r.api.CreateAnalyzer(ctx, &accessanalyzer.CreateAnalyzerInput{
		AnalyzerName: aws.String(analyzerName),
		Type:         aatypes.TypeAccount,
		Tags:         r.in.Tags(KeyAnalyzer),
	})
	if err != nil {
		return nil, fmt.Errorf("creating IAM Access Analyzer analyzer %s: %w", analyzerName, err)
	}
	return &state.Resource{ID: analyzerName, ARN: aws.ToString(out.Arn), Attrs: ownedAttrs(true)}, nil
}

// Update re-tags the analyzer: only one fvdeploy owns has changes.
func (r *accessAnalyzer) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	_, err := r.api.TagResource(ctx, &accessanalyzer.TagResourceInput{ResourceArn: aws.String(found.Record.ARN), Tags: r.in.Tags(KeyAnalyzer)})
	if err != nil {
		return nil, fmt.Errorf("tagging IAM Access Analyzer analyzer %s: %w", found.Record.ID, err)
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes the analyzer only if fvdeploy created it; an adopted one is the
// account's and stays.
func (r *accessAnalyzer) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	if _, err := r.api.DeleteAnalyzer(ctx, &accessanalyzer.DeleteAnalyzerInput{AnalyzerName: aws.String(rec.ID)}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting IAM Access Analyzer analyzer %s: %w", rec.ID, err)
	}
	return nil
}
