package signing

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/signing/keyfile"
	"github.com/xtbuild/xtbuild/signing/smime"
)

// ResignOptions are the inputs of a release re-signature.
type ResignOptions struct {
	// Log receives progress (nil: slog.Default()).
	Log *slog.Logger
	// Signer is the production signer: the production CA itself (as
	// OpenXT's scripts sign with the CA key) or a certificate issued by it.
	Signer *Signer
	// ProdCAFile is the production CA the devices trust.
	ProdCAFile string
	// DevCAFile is the development CA: signers chaining to it (or sharing a
	// key with it) are refused, and the repository's current signature must
	// verify against it or the production CA.
	DevCAFile string
	// Now is the moment certificates must be valid at; zero means now.
	Now time.Time
}

// ResignRelease replaces XC-SIGNATURE in packagesDir with a production
// signature, what OpenXT did out of band for releases. XC-REPOSITORY is left
// byte for byte as the build wrote it. It refuses (errors.Is):
//   - ErrKeyMismatch: the key does not belong to the signer certificate;
//   - ErrCertExpired / ErrCertNotYetValid: a signer or CA certificate is
//     outside its validity;
//   - ErrDevKey: the signer is, or chains to, the development CA;
//   - ErrNotProdSigner: the signer does not chain to the production CA;
//   - ErrRepositoryMismatch: XC-PACKAGES does not match XC-REPOSITORY or a
//     file does not match XC-PACKAGES;
//   - ErrRepositorySigned: the current signature is not a valid dev or prod
//     signature (XC-REPOSITORY was altered after the build signed it).
func ResignRelease(ctx context.Context, packagesDir string, opts ResignOptions) error {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	s := opts.Signer
	if err := s.checkKey(); err != nil {
		return fmt.Errorf("re-sign release: %w", err)
	}
	if opts.ProdCAFile == "" || opts.DevCAFile == "" {
		return errors.New("re-sign release: both the production and the development CA certificates are required")
	}
	prodCAs, err := keyfile.ReadCertificates(opts.ProdCAFile)
	if err != nil {
		return fmt.Errorf("re-sign release: %w", err)
	}
	devCAs, err := keyfile.ReadCertificates(opts.DevCAFile)
	if err != nil {
		return fmt.Errorf("re-sign release: %w", err)
	}
	for _, c := range append([]*x509.Certificate{s.Cert}, s.Chain...) {
		if err := checkValidity(c, now); err != nil {
			return fmt.Errorf("re-sign release: signer %w", err)
		}
	}
	for _, c := range prodCAs {
		if err := checkValidity(c, now); err != nil {
			return fmt.Errorf("re-sign release: production CA %w", err)
		}
	}
	for _, dc := range devCAs {
		for _, pc := range prodCAs {
			if publicKeysEqual(dc.PublicKey, pc.PublicKey) {
				return fmt.Errorf("re-sign release: the production CA %s has the development CA's key: %w", opts.ProdCAFile, ErrDevKey)
			}
		}
		if publicKeysEqual(dc.PublicKey, s.Key.Public()) {
			return fmt.Errorf("re-sign release: signer key is the development CA key: %w", ErrDevKey)
		}
	}
	if chainsTo(s, devCAs, now) || issuedByAny(s, devCAs) {
		return fmt.Errorf("re-sign release: signer %q chains to the development CA: %w", s.Cert.Subject.String(), ErrDevKey)
	}
	if !chainsTo(s, prodCAs, now) {
		return fmt.Errorf("re-sign release: signer %q: %w %s", s.Cert.Subject.String(), ErrNotProdSigner, opts.ProdCAFile)
	}

	res, err := Verify(ctx, packagesDir, VerifyOptions{ProdCAFile: opts.ProdCAFile, DevCAFile: opts.DevCAFile, AllowDev: true, Now: now})
	if err != nil {
		return fmt.Errorf("re-sign release: %w", err)
	}
	if code := res.ExitCode(); code != ExitValid {
		var lines []string
		for _, p := range res.Problems {
			lines = append(lines, p.String())
		}
		sentinel := ErrRepositoryMismatch
		if code == ExitSignatureInvalid {
			sentinel = ErrRepositorySigned
		}
		return fmt.Errorf("re-sign release: %s: %w:\n  %s", packagesDir, sentinel, strings.Join(lines, "\n  "))
	}

	repo, err := os.ReadFile(filepath.Join(packagesDir, RepositoryFile))
	if err != nil {
		return fmt.Errorf("re-sign release: %w", err)
	}
	sig, err := s.Sign(repo)
	if err != nil {
		return fmt.Errorf("re-sign release: %w", err)
	}
	// Check our own output the way a device will before replacing anything.
	sd, err := smime.ParsePEM(sig)
	if err == nil {
		_, err = sd.Verify(repo, smime.VerifyOptions{Roots: pool(prodCAs), CurrentTime: now})
	}
	if err != nil {
		return fmt.Errorf("re-sign release: new signature does not verify against the production CA: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(packagesDir, SignatureFile), sig, 0o644); err != nil {
		return fmt.Errorf("re-sign release: %w", err)
	}
	orDefault(opts.Log).Info("re-signed repository with the production key", "dir", packagesDir, "signer", s.Cert.Subject.String(), "previously", res.TrustedBy)
	return nil
}

// issuedByAny reports whether the signer certificate or a certificate of
// its embedded chain is one of roots, has a root's key, or carries a
// root's signature. Unlike chainsTo it ignores dates and key usages: an
// expired production CA is still the production CA.
func issuedByAny(s *Signer, roots []*x509.Certificate) bool {
	for _, c := range append([]*x509.Certificate{s.Cert}, s.Chain...) {
		for _, r := range roots {
			if publicKeysEqual(c.PublicKey, r.PublicKey) || r.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
				return true
			}
		}
	}
	return false
}

// chainsTo reports whether the signer certificate verifies up to one of roots.
func chainsTo(s *Signer, roots []*x509.Certificate, now time.Time) bool {
	inter := x509.NewCertPool()
	for _, c := range s.Chain {
		inter.AddCert(c)
	}
	_, err := s.Cert.Verify(x509.VerifyOptions{
		Roots: pool(roots), Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err == nil
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
