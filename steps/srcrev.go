package steps

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/srcrev"
)

// lockSources fixes the recipes of the synced layers that follow branch
// heads (package srcrev): found statically, resolved from [mirrors]
// git_dir or with git ls-remote (not when offline), overridden by
// [srcrev], taken from the lock in locked mode. It writes
// bbconf.SrcrevConfFile and returns the lock entries.
func lockSources(ctx context.Context, e *Env, lock *layers.Lock) ([]layers.LockedSrcrev, error) {
	c := e.Config
	var dirs []string
	for _, l := range c.Layers {
		for _, sub := range l.Sublayers {
			dirs = append(dirs, filepath.Join(c.LayerDir(l), sub))
		}
	}
	dirs = append(dirs, bbconf.ExtraLayers(c)...)
	sc, err := srcrev.NewScanner(dirs)
	if err != nil {
		return nil, err
	}
	local, err := bbconf.LocalConf(c, plan.BuildName(c))
	if err != nil {
		return nil, err
	}
	if err := sc.ConfText(filepath.Join(c.BuildDir(), "conf", "local.conf"), local); err != nil {
		return nil, err
	}
	if err := sc.Distro(); err != nil {
		return nil, err
	}
	srcs, problems, err := sc.Scan()
	if err != nil {
		return nil, err
	}
	var perr []error
	for _, p := range problems {
		if _, pinned := c.Srcrev[p.Recipe]; !pinned {
			perr = append(perr, p)
		}
	}
	if err := errors.Join(perr...); err != nil {
		return nil, fmt.Errorf("recipes that follow a branch xtbuild cannot read:\n%w", err)
	}
	o := srcrev.Options{Overrides: c.Srcrev, Network: !c.Mirrors.Offline, Locked: e.Options.Locked}
	if c.Mirrors.GitDir != "" {
		o.GitDir = c.Abs(c.Mirrors.GitDir)
	}
	if lock != nil {
		o.Lock = lock.Srcrevs
	}
	pins, err := srcrev.Resolve(ctx, srcs, o)
	if err != nil {
		return nil, err
	}
	var confPins []bbconf.SrcrevPin
	var mirrors []bbconf.GitPremirror
	for _, p := range pins {
		for _, pn := range p.PNs() { // the recipe and its BBCLASSEXTEND variants
			confPins = append(confPins, bbconf.SrcrevPin{Recipe: pn, Var: p.Var, Commit: p.Commit})
		}
		if p.Mirror != "" {
			mirrors = append(mirrors, bbconf.GitPremirror{FetchURL: p.FetchURL, Mirror: p.Mirror})
		}
	}
	if wrote, err := bbconf.WriteSrcrev(c, confPins, mirrors); err != nil {
		return nil, err
	} else if wrote {
		e.Term.Printf("wrote %s (%d recipes pinned)", filepath.Join(relTo(c.Source.Dir, c.BuildDir()), bbconf.SrcrevConfFile), len(pins))
	}
	return srcrev.Locked(pins), nil
}
