package targets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/provenance"
	"github.com/xtbuild/xtbuild/ship"
	"github.com/xtbuild/xtbuild/signing"
)

// Keys creates the OpenXT signing inputs and the kernel module signing pair in paths.certs_dir.
func Keys(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		c := b.Config
		dir := c.Abs(c.Paths.CertsDir)
		opts := signing.KeyOptions{Algorithm: signing.KeyAlgorithm(c.Signing.KeyType), Days: c.Signing.ValidDays, PassphraseEnv: signing.PassphraseEnv(c), Log: b.Log}
		if err := signing.GenerateKeys(ctx, dir, opts); err != nil {
			return err
		}
		// The kernel module signing pair bordel's `certs create` also makes
		// (KERNEL_MODULE_SIG_CERT / KERNEL_MODULE_SIG_KEY).
		mk, err := signing.GenerateModuleSigningKey(ctx, dir, opts)
		if err != nil {
			return err
		}
		k := signing.KeyPaths(dir)
		for _, f := range []string{k.ProdCACert, k.ProdCAKey, k.DevCACert, k.DevCAKey, k.DevSigningCert, k.DevSigningKey, mk.Cert, mk.Key} {
			b.Term.Printf("%s", f)
		}
		return nil
	})
}

// Sign signs the build's repository with the dev key; XTBUILD_RELEASE=1
// re-signs it with the production key. Either way the build output moves
// to the newly signed state as a whole (resign).
func Sign(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		if err := pipeline.Resolve(b); err != nil {
			return err
		}
		return resign(ctx, b)
	})
}

// resign moves build-output/<NAME> to a newly signed state in one step,
// under the build-dir lock. The new state is prepared beside the old one
// (atomicfile.ReplaceDir): a clone of the output whose unchanged files
// are hard links, the new repository (the release signature over the
// build's own XC-REPOSITORY, or a development repository written afresh
// from raw/), the media that carry the repository re-assembled with the
// build date, manifest.json with the new files' hashes and the provenance
// re-issued over it. Only then does it replace the old output, by one
// directory exchange. A failure, Ctrl-C or kill at any moment leaves the
// old state or the new one, complete; a later run removes what a killed
// one left beside the output.
func resign(ctx context.Context, b *pipe.Build) error {
	c := b.Config
	lk, err := buildlock.Acquire(c.BuildDir())
	if err != nil {
		return err
	}
	defer lk.Unlock()
	out := b.OutDir()
	if err := atomicfile.RecoverDir(out); err != nil {
		return err
	}

	var sign func(ctx context.Context, stage string) error
	if b.Options.Release {
		s, err := signing.LoadSigner(c.Abs(c.Signing.ReleaseSigningCert), c.Abs(c.Signing.ReleaseSigningKey), signing.PassphraseEnv(c))
		if err != nil {
			return err
		}
		opts := signing.ResignOptions{Signer: s, ProdCAFile: c.Abs(c.Signing.ProdCACert), DevCAFile: c.Abs(c.Signing.DevCACert), Log: b.Log}
		sign = func(ctx context.Context, stage string) error {
			return signing.ResignRelease(ctx, signing.PackagesDir(stage), opts)
		}
	} else {
		sign = func(ctx context.Context, stage string) error { return signing.SignDev(ctx, c, stage, b.Date, b.Log) }
	}
	// The media hold the repository: a release always ships them; a dev
	// signature re-assembles them when the build has them.
	media := b.Options.Release || ship.HasMedia(out)
	changed := []string{"repository"}
	if media {
		changed = append(changed, ship.Parts...)
	}
	skip := map[string]bool{manifest.File: true, provenance.File: true, provenance.File + provenance.SignatureSuffix: true}
	for _, p := range changed {
		skip[p] = !b.Options.Release || p != "repository"
	}
	old, err := manifest.Read(filepath.Join(out, manifest.File))
	if err != nil {
		return err
	}
	oldProv, err := readProvenance(filepath.Join(out, provenance.File))
	if err != nil {
		return err
	}

	err = atomicfile.ReplaceDir(out, func(stage string) error {
		if _, err := os.Stat(out); err == nil {
			if err := atomicfile.CloneTree(ctx, out, stage, func(rel string) bool { return skip[rel] }); err != nil {
				return err
			}
		}
		if err := sign(ctx, stage); err != nil {
			return err
		}
		if media {
			if err := ship.AssembleIn(ctx, b, stage); err != nil {
				return err
			}
		}
		if err := rehash(ctx, b, old, stage, changed); err != nil {
			return err
		}
		if oldProv != nil {
			return reissueProvenance(b, oldProv, stage)
		}
		return nil
	})
	if err != nil {
		// Ctrl-C reaches the tools ship runs (xorriso, mtools) as it
		// reaches us, and one may report its death before our context
		// is cancelled: an interruption all the same.
		if ctx.Err() != nil || killedByInterrupt(err) {
			return exitcode.With(exitcode.Interrupted, err)
		}
		return err
	}
	pkgs := signing.PackagesDir(out)
	if b.Options.Release {
		b.Term.Printf("re-signed %s with the production key; media, manifest and provenance follow it", pkgs)
	} else {
		b.Term.Printf("signed %s with the development key", pkgs)
	}
	return nil
}

// killedByInterrupt reports whether err comes from a program that died of
// SIGINT or SIGTERM.
func killedByInterrupt(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && (ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGTERM)
}

// rehash writes stage's manifest.json: the old one with the entries of
// the changed parts replaced by the files now there, under the step that
// made them (the ship step).
func rehash(ctx context.Context, b *pipe.Build, m *manifest.Manifest, stage string, changed []string) error {
	step := shipStep(b, m)
	var files []string
	for _, p := range changed {
		files = append(files, manifest.Files(filepath.Join(stage, p))...)
	}
	arts, err := manifest.Artifacts(ctx, stage, files, step, "")
	if err != nil {
		return err
	}
	kept := []manifest.Artifact{}
	for _, a := range m.Artifacts {
		if !slices.ContainsFunc(changed, func(p string) bool { return a.Path == p || strings.HasPrefix(a.Path, p+"/") }) {
			kept = append(kept, a)
		}
	}
	m.Artifacts = append(kept, arts...)
	sort.Slice(m.Artifacts, func(i, j int) bool { return m.Artifacts[i].Path < m.Artifacts[j].Path })
	if m.Name == "" {
		m.Name, m.ConfigHash = b.Plan.Name, b.Config.Source.Hash
	}
	return m.Write(filepath.Join(stage, manifest.File))
}

// shipStep is the step the repository and media belong to: the one the
// manifest already names for them, else the configured ship step.
func shipStep(b *pipe.Build, m *manifest.Manifest) string {
	for _, a := range m.Artifacts {
		if strings.HasPrefix(a.Path, "repository/") {
			return a.Step
		}
	}
	for _, n := range plan.KnownSteps(b.Config) {
		if b.Config.Steps[n].Kind == config.KindShip {
			return n
		}
	}
	return "sign"
}

// readProvenance parses the provenance at path, nil when there is none.
func readProvenance(path string) (*provenance.Document, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return provenance.ReadFile(path)
}

// reissueProvenance writes and signs (as the pipeline does, with the
// development key when there is one) the provenance of the output in
// stage, for the same build as old: its board, steps and times.
func reissueProvenance(b *pipe.Build, old *provenance.Document, stage string) error {
	md := old.Provenance.GetRunDetails().GetMetadata()
	info := provenance.BuildInfo{Board: old.Board(), Steps: old.Steps(), Started: md.GetStartedOn().AsTime(), Finished: md.GetFinishedOn().AsTime(), Version: b.Version, Commit: b.Options.Commit}
	path, err := provenance.WriteIn(b.MainConfig(), info, stage)
	if err != nil {
		return err
	}
	s, err := provenance.DevSigner(b.MainConfig())
	if err != nil {
		b.Term.Printf("provenance: unsigned: %v", err)
		return nil
	}
	_, err = provenance.Sign(path, s)
	return err
}

// Verify checks the repository as a device does.
func Verify(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		if err := pipeline.Resolve(b); err != nil {
			return err
		}
		c := b.Config
		pkgs := signing.PackagesDir(b.OutDir())
		res, err := signing.Verify(ctx, pkgs, signing.VerifyOptions{ProdCAFile: c.Abs(c.Signing.ProdCACert), DevCAFile: c.Abs(c.Signing.DevCACert), AllowDev: b.Options.Dev})
		if err != nil {
			return exitcode.With(2, err)
		}
		res.Report(Stdout)
		if code := res.ExitCode(); code != 0 {
			return exitcode.With(code, fmt.Errorf("verify: %s is not valid (exit %d: 1 signature, 2 metadata)", pkgs, code))
		}
		return nil
	})
}
