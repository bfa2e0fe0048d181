// Package steps implements the build steps that run BitBake: setupoe (layers,
// lock, generated conf), the bitbake runner (env, one memory-resident server,
// per-step logs and progress, signals) with artifact collection into
// build-output/<NAME>/raw, licence collection, the tools layer and the build
// report hook. pipeline/ runs them in order; they share the build context of
// pipe/.
package steps

import "github.com/xtbuild/xtbuild/pipe"

// Env is the build context every step gets (see pipe.Build).
type Env = pipe.Build

// StateDir holds xtbuild's state inside the build dir: resume stamps,
// report history.
const StateDir = ".xtbuild"
