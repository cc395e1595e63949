package phases

import (
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// DeployResources are what `deploy` reconciles before it rolls the service: the image
// phase (unless an image is given), the execution role (its pull grant follows the
// image's repository) and the task definition, which gets a new revision only when its
// rendering differs. in.Image says whether to build.
func DeployResources(in *Inputs) ([]engine.Resource, error) {
	var out []engine.Resource
	if in.Image.Builds() {
		image, err := declareImage(in)
		if err != nil {
			return nil, err
		}
		out = append(out, image...)
	}
	cluster, err := declareCluster(in)
	if err != nil {
		return nil, err
	}
	for _, r := range cluster {
		if r.Key() == keyExecRole || r.Key() == keyTaskDef {
			out = append(out, r)
		}
	}
	return out, nil
}

// TaskFamily is the task definition family the cluster phase registers revisions in.
func TaskFamily(cfg *config.Config) string { return taskFamily(&Inputs{Config: cfg}) }

// RecordTaskDefinition makes doc record td as the task definition revision that runs,
// as after a rollback, and says whether it did: a doc without the task definition is
// left alone. Saving it is the caller's.
func RecordTaskDefinition(doc *state.Document, td *ecstypes.TaskDefinition) bool {
	rec := doc.Resources[keyTaskDef]
	if rec == nil {
		return false
	}
	next := taskDefRecord(td)
	next.Type, next.DependsOn = rec.Type, rec.DependsOn
	doc.Resources[keyTaskDef] = &next
	return true
}
