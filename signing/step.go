package signing

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
)

// RepositoryStep is the first half of the ship kind: write
// build-output/<NAME>/repository/packages.main from raw/ and sign it with the
// development key.
func RepositoryStep(s plan.Step) pipe.Step { return repositoryStep{pipe.Named{Step: s}} }

type repositoryStep struct{ pipe.Named }

func (s repositoryStep) Run(ctx context.Context, b *pipe.Build) ([]manifest.Artifact, error) {
	if err := SignDev(ctx, b.Config, b.OutDir(), b.Date, b.Log); err != nil {
		return nil, err
	}
	return manifest.Artifacts(ctx, b.OutDir(), manifest.Files(filepath.Join(b.OutDir(), "repository")), s.Step.Name, "")
}

// PackagesDir is the repository inside build-output/<NAME>.
func PackagesDir(outDir string) string { return filepath.Join(outDir, "repository", "packages.main") }

// PassphraseEnv names the passphrase variable only when it is set: keys
// are encrypted (and opened) with it then, and are plain otherwise.
func PassphraseEnv(c *config.Config) string {
	if os.Getenv(c.Signing.PassphraseEnv) != "" {
		return c.Signing.PassphraseEnv
	}
	return ""
}

// MetaOf is XC-REPOSITORY's content for c; build: is the ID, or the NAME
// without one (as XENCLIENT_BUILD in local.conf).
func MetaOf(c *config.Config) RepoMeta {
	build := c.Build.ID
	if build == "" {
		build = plan.BuildName(c)
	}
	return RepoMeta{Build: build, Version: c.Version.Version, Release: c.Version.Release, UpgradeFrom: c.Version.UpgradeableReleases}
}

// ManifestOf is the repository's component list: the configured
// [[repository]] images (bordel's images-manifest) as plan stages them, or
// the stable-9 default when none are configured.
func ManifestOf(c *config.Config) Manifest {
	files := plan.Repository(c)
	if len(files) == 0 {
		return DefaultManifest()
	}
	m := make(Manifest, 0, len(files))
	for _, f := range files {
		m = append(m, Component{Name: f.ID, Format: f.Format, Required: true, File: f.File, Destination: f.Mount})
	}
	return m
}

// SignDev writes the repository of the build in outDir from its raw/ and
// signs it with the configured development key. The signature's
// signingTime is the build date (when not zero), as every other date of the
// build: with an RSA key, two builds of one lock then carry the same
// signature, so the repository, the media that hold it and the manifest are
// byte-identical. Verification (openssl's and the device's) checks the
// certificates at the time of verifying, not at signingTime.
func SignDev(ctx context.Context, c *config.Config, outDir string, date time.Time, log *slog.Logger) error {
	// Never the production key on the development path.
	s, err := LoadDevSigner(c.Abs(c.Signing.DevSigningCert), c.Abs(c.Signing.DevSigningKey), PassphraseEnv(c), c.Abs(c.Signing.ProdCACert), c.Abs(c.Signing.DevCACert))
	if err != nil {
		return err
	}
	if !date.IsZero() {
		s.Now = func() time.Time { return date }
	}
	return WriteRepository(ctx, filepath.Join(outDir, "raw"), PackagesDir(outDir), ManifestOf(c), MetaOf(c), s, log)
}

// orDefault is log, or slog.Default() for callers that pass none.
func orDefault(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}
