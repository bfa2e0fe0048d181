package provenance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/signing"
)

// RebuildOptions tune Prepare.
type RebuildOptions struct {
	// CAFile holds the certificates trusted to sign provenance (the dev
	// CA for dev builds). Required unless AllowUnsigned.
	CAFile string
	// SignatureFile is the detached signature; "" means PROVENANCE.sig.
	SignatureFile string
	// AllowUnsigned skips the signature check (the file is still validated).
	AllowUnsigned bool
	// MirrorDir is where the recorded mirror files and ACMs are taken from
	// (e.g. the original build's mirror); "" means the rebuilt config's own
	// mirror directory. Files are checked against the recorded sha256 and
	// linked or copied into the rebuilt mirror.
	MirrorDir string
	// Log receives warnings (nil: slog.Default()).
	Log *slog.Logger
}

// Rebuild is a build tree recreated from a provenance file alone, ready for
// the pipeline to build with locked layers (Steps are the recorded ones).
type Rebuild struct {
	Doc *Document
	// Main is the recorded configuration; Config is what is built (the
	// board's derived config for a board build).
	Main, Config *config.Config
}

// Board is the recorded board ("" for the main build).
func (r *Rebuild) Board() string { return r.Doc.Board() }

// Steps are the recorded steps.
func (r *Rebuild) Steps() []string { return r.Doc.Steps() }

// RebuildResult is what a rebuild produced.
type RebuildResult struct {
	Provenance string  // the rebuild's own provenance.json
	Report     *Report // the rebuild's artifacts against the recorded subjects
}

// Prepare recreates a build tree in workDir from a provenance file alone:
// it checks the signature, writes xtbuild.toml from the recorded resolved
// config and the lock file byte for byte, restores the CA certificates, and
// takes the recorded mirror files from opts.MirrorDir refusing any whose
// sha256 differs (and any missing ACM, which nothing can fetch). The caller
// then builds r.Steps() of r.Config with locked layers (setupoe refuses a
// locked commit that can no longer be fetched, naming it, before bitbake
// runs) and calls Finish.
func Prepare(ctx context.Context, provenancePath, workDir string, opts RebuildOptions) (*Rebuild, error) {
	var doc *Document
	var err error
	if opts.AllowUnsigned {
		doc, err = ReadFile(provenancePath)
	} else {
		if opts.CAFile == "" {
			return nil, exitcode.UsageError(errors.New("rebuild: no CA certificate to check the provenance signature with (or allow unsigned provenance)"))
		}
		doc, err = Verify(provenancePath, opts.SignatureFile, opts.CAFile)
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	abs, err := filepath.Abs(workDir)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	c, d, err := restoreConfig(doc, abs)
	if err != nil {
		return nil, err
	}
	if err := restoreLock(doc, d); err != nil {
		return nil, err
	}
	if err := restoreCerts(doc, d); err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if err := restoreMirror(doc, d, opts.MirrorDir, log); err != nil {
		return nil, err
	}
	return &Rebuild{Doc: doc, Main: c, Config: d}, nil
}

// Finish compares the rebuilt manifest with the recorded subjects (a
// difference is reported, not returned as an error) and writes the
// rebuild's own provenance, signed when s is not nil.
func (r *Rebuild) Finish(info BuildInfo, s *signing.Signer) (*RebuildResult, error) {
	d := r.Config
	res := &RebuildResult{}
	var err error
	m := filepath.Join(d.Abs(d.Paths.OutputDir), plan.BuildName(d), manifest.File)
	if res.Report, err = CompareWithSubjects(r.Doc, m); err != nil {
		return res, err
	}
	info.Board, info.Steps = r.Board(), r.Steps()
	if res.Provenance, err = Write(r.Main, info); err != nil {
		return res, err
	}
	if s != nil {
		if _, err := Sign(res.Provenance, s); err != nil {
			return res, err
		}
	}
	return res, nil
}

// restoreConfig writes xtbuild.toml and loads it, refusing when this
// xtbuild resolves it to another config than the one recorded (a changed
// built-in profile would silently build something else).
func restoreConfig(doc *Document, dir string) (main, build *config.Config, err error) {
	text := doc.external("config")
	if text == "" {
		return nil, nil, errors.New("rebuild: the provenance records no configuration")
	}
	path := filepath.Join(dir, config.DefaultFile)
	if err := writeNew(path, []byte(text), 0o644); err != nil {
		return nil, nil, err
	}
	c, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild: recorded config: %w", err)
	}
	if want := doc.external("configSha256"); c.Source.Hash != want {
		return nil, nil, fmt.Errorf("rebuild: the recorded config resolves to sha256 %s with this xtbuild, the build had %s; rebuild with the xtbuild recorded in the provenance (%s)",
			c.Source.Hash, want, doc.Provenance.GetRunDetails().GetBuilder().GetVersion()["xtbuild_commit"])
	}
	d, err := BuildConfig(c, doc.Board())
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild: %w", err)
	}
	if want := doc.internal("buildConfigSha256"); d.Source.Hash != want {
		return nil, nil, fmt.Errorf("rebuild: board %s derives to config sha256 %s, the build had %s", doc.Board(), d.Source.Hash, want)
	}
	return c, d, nil
}

// restoreLock writes the recorded lock file and checks it agrees with the
// recorded layer commits.
func restoreLock(doc *Document, d *config.Config) error {
	r := doc.dependency(lockResource)
	if r == nil || len(r.GetContent()) == 0 {
		return errors.New("rebuild: the provenance records no layer lock")
	}
	if got := sum(r.GetContent()); got != r.GetDigest()["sha256"] {
		return fmt.Errorf("rebuild: recorded lock has sha256 %s, its digest says %s", got, r.GetDigest()["sha256"])
	}
	if err := writeNew(d.LockFile(), r.GetContent(), 0o644); err != nil {
		return err
	}
	lock, err := layers.ReadLock(d.LockFile())
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	for _, l := range lock.Layers {
		dep := doc.dependency(prefixLayer + l.Name)
		if dep == nil || dep.GetDigest()["gitCommit"] != l.Commit {
			return fmt.Errorf("rebuild: layer %s: the lock says %s but the provenance's dependency list does not", l.Name, l.Commit)
		}
	}
	return nil
}

// restoreCerts writes the CA certificates the images baked in.
func restoreCerts(doc *Document, d *config.Config) error {
	paths := map[string]string{"prod_ca_cert": d.Signing.ProdCACert, "dev_ca_cert": d.Signing.DevCACert}
	for key, p := range paths {
		r := doc.dependency(prefixCert + key)
		if r == nil {
			continue
		}
		if sum(r.GetContent()) != r.GetDigest()["sha256"] {
			return fmt.Errorf("rebuild: recorded %s does not match its digest", key)
		}
		if err := writeNew(d.Abs(p), r.GetContent(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// restoreMirror takes every recorded mirror file and ACM from src into the
// rebuilt mirror, refusing sha256 mismatches and missing ACMs.
func restoreMirror(doc *Document, d *config.Config, src string, log *slog.Logger) error {
	dst := d.Abs(d.Paths.Mirror)
	if src == "" {
		src = dst
	}
	idx := mirror.Index{}
	var absent []string
	for _, r := range doc.Provenance.GetBuildDefinition().GetResolvedDependencies() {
		name, isACM := strings.CutPrefix(r.GetName(), prefixACM)
		if !isACM {
			var ok bool
			if name, ok = strings.CutPrefix(r.GetName(), prefixMirror); !ok {
				continue
			}
		}
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("rebuild: mirror file name %q leaves the mirror directory", name)
		}
		want := r.GetDigest()["sha256"]
		from := filepath.Join(src, filepath.FromSlash(name))
		got, err := fileSHA256(from)
		if errors.Is(err, fs.ErrNotExist) {
			if isACM {
				return fmt.Errorf("rebuild: ACM %s (sha256 %s) is not in %s; nothing can fetch it: download it from %s",
					name, want, src, r.GetAnnotations().GetFields()["source"].GetStringValue())
			}
			absent = append(absent, name)
			continue
		}
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("rebuild: mirror file %s has sha256 %s, the build used %s", from, got, want)
		}
		if src != dst {
			to := filepath.Join(dst, filepath.FromSlash(name))
			if have, err := fileSHA256(to); err == nil && have != want {
				return fmt.Errorf("rebuild: %s exists with sha256 %s, the build used %s", to, have, want)
			}
			if err := copyFile(from, to); err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
			idx[name] = want
		}
	}
	if len(idx) > 0 {
		if err := idx.Write(dst); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	if len(absent) > 0 {
		log.Warn("recorded mirror files are absent and will be fetched from upstream (checksums still apply)", "count", len(absent), "first", absent[0])
	}
	return nil
}

// writeNew writes a file that must not already exist with other content:
// a rebuild never overwrites someone's tree.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Equal(old, data) {
			return nil
		}
		return fmt.Errorf("rebuild: %s exists with other content; rebuild into a fresh directory", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	return nil
}

// copyFile puts src at dst unless dst exists (the caller checked its hash):
// a hard link, or an atomic copy across filesystems.
func copyFile(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	return atomicfile.LinkOrCopy(src, dst, 0o644)
}
