// Package steps runs the build: the step graph resolved by plan, setupoe,
// the bitbake runner with per-step logs and progress, resume stamps, and
// artifact collection into build-output/<NAME>/raw with a sha256 manifest.
package steps

import (
	"log/slog"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/term"
)

// Env is what every step gets: the read-only config, the options from the
// environment, the terminal and a logger.
type Env struct {
	Config  *config.Config
	Options config.Options
	Term    *term.Term
	Log     *slog.Logger
	// Kinds runs step kinds implemented outside this package (ship, upload).
	Kinds map[string]KindFunc
}
