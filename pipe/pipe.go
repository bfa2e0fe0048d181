// Package pipe defines what every build step shares: the build context
// (Build) resolved once per target, and the Step interface that each kind of
// step implements where its concern lives (setupoe, bitbake and licence
// collection in steps/, sign in signing/, ship in ship/, upload in upload/).
// The ordered list of kinds and the loop that runs them are in pipeline/.
//
// The model is goreleaser's pipe/pipeline split: this package depends on
// nothing that implements a step, so every implementation can import it.
package pipe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/term"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/plan"
)

// Build is the one build context of a target run: the config and options
// read once, the plan resolved once, the layer lock and the build date, the
// logger and the terminal. Steps read it; only the pipeline changes it (the
// lock and date after setupoe).
type Build struct {
	// Config is the configuration being built (a board's derived config for
	// `board NAME`). Steps read from it only what the plan does not carry
	// (signing keys, upload destination, mirror paths).
	Config *config.Config
	// Main is the configuration the user wrote (before board derivation);
	// provenance records it. Nil means Config.
	Main *config.Config
	// Board names the board profile being built ("" for the main build).
	Board   string
	Options config.Options
	// Plan is the resolved build; nil until the target resolves it.
	Plan *plan.Plan
	// Lock is xtbuild.lock as setupoe wrote it (nil before the first setupoe).
	Lock *layers.Lock
	// Date is the build date: the newest locked layer commit's committer
	// date, the value local.conf gives BitBake as SOURCE_DATE_EPOCH_FALLBACK.
	// Zero before setupoe. Never the clock: media built from the same lock
	// carry the same dates.
	Date time.Time
	Log  *slog.Logger
	Term *term.Term
	// Version is xtbuild's version recorded in provenance ("" reads the Go
	// build info).
	Version string
}

// MainConfig is the configuration the user wrote.
func (b *Build) MainConfig() *config.Config {
	if b.Main != nil {
		return b.Main
	}
	return b.Config
}

// OutDir is build-output/<NAME>, where every step's outputs go.
func (b *Build) OutDir() string { return b.Plan.OutDir() }

// RequireDate returns the build date or an error naming how to get one.
func (b *Build) RequireDate(what string) (time.Time, error) {
	if b.Date.IsZero() {
		return time.Time{}, fmt.Errorf("%s: no build date: it comes from the layer lock (the newest locked layer commit); run setupoe first", what)
	}
	return b.Date, nil
}

// Step is one configured step of a kind. String is the step's name.
type Step interface {
	fmt.Stringer
	// Kind is the config kind the step implements (config.Kind*).
	Kind() string
	// Run does the step and returns the artifacts it produced under
	// OutDir, which the pipeline records in manifest.json.
	Run(ctx context.Context, b *Build) ([]manifest.Artifact, error)
}

// Named carries a plan step's identity; step implementations embed it.
type Named struct{ Step plan.Step }

// String is the step's configured name.
func (n Named) String() string { return n.Step.Name }

// Kind is the step's kind.
func (n Named) Kind() string { return n.Step.Kind }

// New makes the Step for a plan step.
type New func(plan.Step) Step

// Kinds has one constructor per step kind config accepts. Only NewKinds
// makes one, and it takes every kind as a parameter: a kind left out does not
// compile.
type Kinds struct {
	setupOE, bitbake, license, ship, upload New
}

// NewKinds lists the constructor of each kind.
func NewKinds(setupOE, bitbake, license, ship, upload New) Kinds {
	return Kinds{setupOE, bitbake, license, ship, upload}
}

// For returns the step for s, or an error for a kind that config does not
// know (config validation refuses those before any step runs).
func (k Kinds) For(s plan.Step) (Step, error) {
	var n New
	switch s.Kind {
	case config.KindSetupOE:
		n = k.setupOE
	case config.KindBitbake:
		n = k.bitbake
	case config.KindLicense:
		n = k.license
	case config.KindShip:
		n = k.ship
	case config.KindUpload:
		n = k.upload
	}
	if n == nil {
		return nil, fmt.Errorf("step %s: unknown kind %q", s.Name, s.Kind)
	}
	return n(s), nil
}

// ErrSkip is returned (wrapped) by a step that had nothing to do; the
// pipeline reports it as skipped, not failed.
var ErrSkip = errors.New("skipped")

// Skip returns an ErrSkip saying why.
func Skip(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSkip, fmt.Sprintf(format, a...))
}

// Seq is a kind made of several steps run in order under one step name; its
// artifacts are theirs together. The ship kind is the repository signature
// (signing) followed by the media (ship).
func Seq(parts ...New) New {
	return func(s plan.Step) Step {
		seq := seqStep{Named: Named{Step: s}}
		for _, p := range parts {
			seq.parts = append(seq.parts, p(s))
		}
		return seq
	}
}

type seqStep struct {
	Named
	parts []Step
}

func (s seqStep) Run(ctx context.Context, b *Build) ([]manifest.Artifact, error) {
	var all []manifest.Artifact
	for _, p := range s.parts {
		arts, err := p.Run(ctx, b)
		if err != nil {
			return nil, err
		}
		all = append(all, arts...)
	}
	return all, nil
}
