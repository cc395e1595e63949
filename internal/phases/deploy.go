package phases

import (
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// DeployResources are what `deploy` reconciles before it rolls the service: the image
// phase (unless an image is given), the execution role (its pull grant follows the
// image's repository) and the task definition, which gets a new revision only when its
// rendering differs. in.Image says whether to build.
func DeployResources(in *kit.Inputs) ([]engine.Resource, error) {
	var out []engine.Resource
	if in.Image.Builds() {
		build, err := image.Declare(in)
		if err != nil {
			return nil, err
		}
		out = append(out, build...)
	}
	running, err := cluster.Declare(in)
	if err != nil {
		return nil, err
	}
	for _, r := range running {
		if r.Key() == kit.KeyExecRole || r.Key() == cluster.KeyTaskDef {
			out = append(out, r)
		}
	}
	return out, nil
}

// TaskFamily is the task definition family the cluster phase registers revisions in.
func TaskFamily(cfg *config.Config) string { return kit.TaskFamily(&kit.Inputs{Config: cfg}) }

// RecordTaskDefinition makes doc record td as the task definition revision that runs,
// as after a rollback, and says whether it did: a doc without the task definition is
// left alone. Saving it is the caller's.
func RecordTaskDefinition(doc *state.Document, td *ecstypes.TaskDefinition) bool {
	rec := doc.Resources[cluster.KeyTaskDef]
	if rec == nil {
		return false
	}
	next := cluster.TaskDefRecord(td)
	next.Type, next.DependsOn = rec.Type, rec.DependsOn
	doc.Resources[cluster.KeyTaskDef] = &next
	return true
}
