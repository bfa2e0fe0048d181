package steps

import (
	"os"
	"testing"

	"github.com/xtbuild/xtbuild/internal/standin"
)

// fakeBitbake is the stand-in bitbake (testdata/fakebitbake), built once.
var fakeBitbake string

func TestMain(m *testing.M) { os.Exit(standin.Main(m, &fakeBitbake)) }

func newWorld(t *testing.T, extraTOML string) *standin.World {
	return standin.NewWorld(t, fakeBitbake, extraTOML)
}
