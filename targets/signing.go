package targets

import (
	"context"
	"fmt"

	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
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
// re-signs it with the production key and re-assembles the media.
func Sign(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		if err := pipeline.Resolve(b); err != nil {
			return err
		}
		c := b.Config
		pkgs := signing.PackagesDir(b.OutDir())
		if !b.Options.Release {
			if err := signing.SignDev(ctx, c, b.OutDir(), b.Date, b.Log); err != nil {
				return err
			}
			b.Term.Printf("signed %s with the development key", pkgs)
			return nil
		}
		s, err := signing.LoadSigner(c.Abs(c.Signing.ReleaseSigningCert), c.Abs(c.Signing.ReleaseSigningKey), signing.PassphraseEnv(c))
		if err != nil {
			return err
		}
		if err := signing.ResignRelease(ctx, pkgs, signing.ResignOptions{Signer: s, ProdCAFile: c.Abs(c.Signing.ProdCACert), DevCAFile: c.Abs(c.Signing.DevCACert), Log: b.Log}); err != nil {
			return err
		}
		b.Term.Printf("re-signed %s with the production key", pkgs)
		return ship.AssembleBuild(ctx, b)
	})
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
