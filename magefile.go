//go:build mage

// xtbuild drives Yocto/OpenEmbedded builds of OpenXT-style measured-launch
// platforms. Options are XTBUILD_* environment variables (README); exit
// codes: 0 ok, 1 failure, 2 bad config or usage, 130 interrupted.
package main

import (
	"context"

	"github.com/xtbuild/xtbuild/targets"
)

// Plan prints the resolved build (steps, machines, images, bitbake commands, layer revisions) without running anything.
func Plan(ctx context.Context) error { return targets.Plan(ctx) }

// Setupoe clones or updates the layers (in parallel), writes xtbuild.lock and generates conf/local.conf and conf/bblayers.conf. XTBUILD_LOCKED=1 refuses anything but the lock's commits; XTBUILD_FORCE=1 discards local layer changes.
func Setupoe(ctx context.Context) error { return targets.SetupOE(ctx) }

// Doctor checks the build host: /bin/sh, host tools, free disk, git identity, locale, Python, user; each failure says how to fix it.
func Doctor(ctx context.Context) error { return targets.Doctor(ctx) }

// Migrate converts an OpenXT .config into xtbuild.toml, listing what it could not take over. XTBUILD_FORCE=1 overwrites an existing xtbuild.toml.
func Migrate(ctx context.Context, path string) error { return targets.Migrate(ctx, path) }

// Init writes the built-in OpenXT profile as a starting xtbuild.toml.
func Init(ctx context.Context) error { return targets.Init(ctx) }
