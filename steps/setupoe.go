package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/doctor"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/plan"
)

// EffectiveConfig is where setupoe records the resolved configuration.
const EffectiveConfig = "conf/xtbuild-effective.toml"

// SetupOE is OpenXT's setupoe: clone or update the layers in parallel, write
// the lock file, check the certificates that images bake in, and generate
// conf/local.conf and conf/bblayers.conf. Re-running it with nothing changed
// rewrites no file.
func SetupOE(ctx context.Context, e *Env) error {
	c := e.Config
	// Before anything is cloned: a release whose BitBake cannot run on this
	// host's Python is refused with the host to use instead.
	var impossible *doctor.ReleaseError
	if err := doctor.CheckRelease(ctx, doctor.System(), c.Build.Release); errors.As(err, &impossible) {
		return exitcode.UsageError(fmt.Errorf("setupoe: %w; %s", err, impossible.Fix()))
	} else if err != nil {
		e.Log.Warn("setupoe: cannot check the host against the release", "err", err)
	}
	lock, err := layers.ReadLock(c.LockFile())
	if err != nil {
		return exitcode.UsageError(err)
	}
	st := newLayerStatus(e)
	results, err := layers.Sync(ctx, c, layers.Options{
		Jobs: e.Options.Jobs, Locked: e.Options.Locked, Force: e.Options.Force, Lock: lock,
		FullHistory: e.Options.FullHistory,
		ExecGit:     e.Options.ExecGit,
		Status:      st.set, Done: st.done,
	})
	e.Term.Done()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("setupoe: %w", err)
	}
	newLock := layers.NewLock(c, results)
	if newLock.Srcrevs, err = lockSources(ctx, e, lock); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("setupoe: %w", err)
	}
	if e.Options.Locked {
		for _, r := range results {
			if want, _ := lock.Commit(r.Name); want != r.Commit {
				return fmt.Errorf("setupoe: layer %s is at %s, lock says %s", r.Name, r.Commit, want)
			}
		}
	} else if wrote, err := newLock.Write(c.LockFile()); err != nil {
		return fmt.Errorf("setupoe: write lock: %w", err)
	} else if wrote {
		e.Term.Printf("wrote %s", relTo(c.Source.Dir, c.LockFile()))
	}
	if err := checkCerts(c); err != nil {
		return err
	}
	if c.Recipes.Enabled {
		changed, err := ToolsLayer(ctx, e)
		if err != nil {
			return fmt.Errorf("setupoe: %w", err)
		}
		for _, f := range changed {
			e.Term.Printf("recipes: %s", f)
		}
	}
	wrote, err := bbconf.Write(c, plan.BuildName(c))
	if err != nil {
		return fmt.Errorf("setupoe: %w", err)
	}
	for _, f := range wrote {
		e.Term.Printf("wrote %s", filepath.Join(relTo(c.Source.Dir, c.BuildDir()), f))
	}
	if _, err := atomicfile.WriteIfChanged(filepath.Join(c.BuildDir(), EffectiveConfig), c.Canonical(), 0o644); err != nil {
		return fmt.Errorf("setupoe: %w", err)
	}
	return nil
}

// checkCerts requires the CA certificates images bake in, as OpenXT did.
func checkCerts(c *config.Config) error {
	var missing []string
	for _, p := range []string{c.Signing.ProdCACert, c.Signing.DevCACert} {
		if _, err := os.Stat(c.Abs(p)); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, c.Abs(p))
		}
	}
	if len(missing) > 0 {
		return exitcode.UsageError(fmt.Errorf("setupoe: repository CA certificate(s) missing: %s; create development keys with `go run mage.go keys` or point [signing] at yours", strings.Join(missing, ", ")))
	}
	return nil
}

func relTo(base, p string) string {
	if r, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// layerStatus shows one live line per repository being worked on (TTY) and
// one plain line per finished repository.
type layerStatus struct {
	e      *Env
	mu     sync.Mutex
	active map[string]string
}

func newLayerStatus(e *Env) *layerStatus {
	return &layerStatus{e: e, active: map[string]string{}}
}

func (s *layerStatus) set(layer, msg string) {
	if !s.e.Term.IsTTY() {
		return
	}
	s.mu.Lock()
	s.active[layer] = msg
	s.redraw()
	s.mu.Unlock()
}

func (s *layerStatus) done(r layers.Result) {
	s.mu.Lock()
	delete(s.active, r.Name)
	s.redraw()
	s.mu.Unlock()
	ref := r.Ref
	if ref == "" {
		ref = "pinned"
	}
	if r.Fetch != "" {
		ref += ", fetched: " + r.Fetch
	}
	s.e.Term.Printf("layer %s: %s at %s (%s)", r.Name, r.Action, r.Commit[:12], ref)
}

func (s *layerStatus) redraw() {
	names := make([]string, 0, len(s.active))
	for n := range s.active {
		names = append(names, n)
	}
	sort.Strings(names)
	lines := make([]string, len(names))
	for i, n := range names {
		lines[i] = fmt.Sprintf("  %s: %s", n, s.active[n])
	}
	s.e.Term.SetStatus(lines...)
}
