package pipeline

import (
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/ship"
	"github.com/xtbuild/xtbuild/signing"
	"github.com/xtbuild/xtbuild/steps"
	"github.com/xtbuild/xtbuild/upload"
)

// kinds is every step kind a config may name, in the order a full OpenXT
// build meets them. NewKinds takes each as a parameter: a kind missing here
// does not compile.
var kinds = pipe.NewKinds(
	// setupoe: clone or update the layers, write xtbuild.lock, generate
	// conf/local.conf and conf/bblayers.conf (and the tools layer).
	steps.SetupOEStep,
	// bitbake: one image for one MACHINE on the memory-resident server,
	// then its deploy outputs linked into raw/.
	steps.BitbakeStep,
	// license: every image's licence manifest into raw/licences.
	steps.LicenseStep,
	// ship: write and dev-sign the repository (packages.main), then
	// assemble the update tarball, netboot tree and installer ISO with the
	// build date.
	pipe.Seq(signing.RepositoryStep, ship.Step),
	// upload: publish build-output/<NAME> to upload.destination.
	upload.Step,
)
