package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/ship"
	"github.com/xtbuild/xtbuild/signing"
	"github.com/xtbuild/xtbuild/steps"
)

func init() { extraKinds[config.KindShip] = shipStep }

// Keys creates the OpenXT signing inputs and the kernel module signing pair in paths.certs_dir.
func Keys(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		c := e.Config
		dir := c.Abs(c.Paths.CertsDir)
		opts := signing.KeyOptions{Algorithm: signing.KeyAlgorithm(c.Signing.KeyType), Days: c.Signing.ValidDays, PassphraseEnv: passphraseEnv(c)}
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
			e.Term.Printf("%s", f)
		}
		return nil
	})
}

// passphraseEnv names the passphrase variable only when it is set: keys
// are encrypted (and opened) with it then, and are plain otherwise.
func passphraseEnv(c *config.Config) string {
	if os.Getenv(c.Signing.PassphraseEnv) != "" {
		return c.Signing.PassphraseEnv
	}
	return ""
}

func outDir(e *steps.Env) string {
	return filepath.Join(e.Config.Abs(e.Config.Paths.OutputDir), plan.BuildName(e.Config))
}

func packagesDir(e *steps.Env) string { return filepath.Join(outDir(e), "repository", "packages.main") }

// repoMeta is XC-REPOSITORY's content; build: is the ID, or the NAME
// without one (as XENCLIENT_BUILD in local.conf).
func repoMeta(c *config.Config) signing.RepoMeta {
	build := c.Build.ID
	if build == "" {
		build = plan.BuildName(c)
	}
	return signing.RepoMeta{Build: build, Version: c.Version.Version, Release: c.Version.Release, UpgradeFrom: c.Version.UpgradeableReleases}
}

// signDev writes and dev-signs the repository from raw/.
func signDev(ctx context.Context, e *steps.Env) error {
	c := e.Config
	// Never the production key on the development path.
	s, err := signing.LoadDevSigner(c.Abs(c.Signing.DevSigningCert), c.Abs(c.Signing.DevSigningKey), passphraseEnv(c), c.Abs(c.Signing.ProdCACert), c.Abs(c.Signing.DevCACert))
	if err != nil {
		return err
	}
	return signing.WriteRepository(ctx, filepath.Join(outDir(e), "raw"), packagesDir(e), repoManifest(c), repoMeta(c), s)
}

// repoManifest is the configured repository ([[repository]], bordel's
// images-manifest) as signing's manifest; every image is required, as
// bordel's stage fails on a missing one. Without [[repository]] entries it
// is OpenXT's final do_build.sh manifest.
func repoManifest(c *config.Config) signing.Manifest {
	files := plan.Repository(c)
	if len(files) == 0 {
		return signing.DefaultManifest()
	}
	m := make(signing.Manifest, 0, len(files))
	for _, f := range files {
		m = append(m, signing.Component{Name: f.ID, Format: f.Format, Required: true, File: f.File, Destination: f.Mount})
	}
	return m
}

func assemble(ctx context.Context, e *steps.Env) error {
	return ship.Assemble(ctx, ship.ShipInput{OutDir: outDir(e), Version: e.Config.Version.Version, BuildID: e.Config.Build.ID})
}

// Sign signs the build's repository with the dev key; XTBUILD_RELEASE=1
// re-signs it with the production key and re-assembles the media.
func Sign(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		c := e.Config
		if !e.Options.Release {
			if err := signDev(ctx, e); err != nil {
				return err
			}
			e.Term.Printf("signed %s with the development key", packagesDir(e))
			return nil
		}
		s, err := signing.LoadSigner(c.Abs(c.Signing.ReleaseSigningCert), c.Abs(c.Signing.ReleaseSigningKey), passphraseEnv(c))
		if err != nil {
			return err
		}
		if err := signing.ResignRelease(ctx, packagesDir(e), signing.ResignOptions{Signer: s, ProdCAFile: c.Abs(c.Signing.ProdCACert), DevCAFile: c.Abs(c.Signing.DevCACert)}); err != nil {
			return err
		}
		e.Term.Printf("re-signed %s with the production key", packagesDir(e))
		return assemble(ctx, e)
	})
}

// Verify checks the repository as a device does.
func Verify(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		c := e.Config
		res, err := signing.Verify(ctx, packagesDir(e), signing.VerifyOptions{ProdCAFile: c.Abs(c.Signing.ProdCACert), DevCAFile: c.Abs(c.Signing.DevCACert), AllowDev: e.Options.Dev})
		if err != nil {
			return exitcode.With(2, err)
		}
		res.Report(Stdout)
		if code := res.ExitCode(); code != 0 {
			return exitcode.With(code, fmt.Errorf("verify: %s is not valid (exit %d: 1 signature, 2 metadata)", packagesDir(e), code))
		}
		return nil
	})
}

// shipStep is the ship step: dev-sign the repository, assemble the ISO,
// netboot, update and info, and list them in the manifest.
func shipStep(ctx context.Context, e *steps.Env, p *plan.Plan, s plan.Step, out string) ([]steps.Artifact, error) {
	if err := signDev(ctx, e); err != nil {
		return nil, err
	}
	if err := assemble(ctx, e); err != nil {
		return nil, err
	}
	var files []string
	for _, sub := range []string{"repository", "iso", "netboot", "update", "licences", "info"} {
		filepath.WalkDir(filepath.Join(out, sub), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
	}
	sizes, sums, err := steps.HashFiles(files)
	if err != nil {
		return nil, err
	}
	arts := make([]steps.Artifact, len(files))
	for i, f := range files {
		rel, _ := filepath.Rel(out, f)
		arts[i] = steps.Artifact{Path: filepath.ToSlash(rel), Size: sizes[i], SHA256: sums[i], Step: s.Name}
	}
	return arts, nil
}
