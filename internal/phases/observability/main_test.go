package observability_test

import (
	"os"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
)

func TestMain(m *testing.M) { os.Exit(phasetest.Main(m)) }
