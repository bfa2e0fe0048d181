// Package signing holds OpenXT's repository signing: the four key inputs, the
// signed repository (packages.main: XC-PACKAGES, XC-REPOSITORY, XC-SIGNATURE),
// release re-signing with the production key and the device's verification.
package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/signing/keyfile"
)

// KeyAlgorithm names the key type GenerateKeys makes.
type KeyAlgorithm string

const (
	RSA2048   KeyAlgorithm = "rsa2048" // the seed's `openssl genrsa 2048`
	RSA4096   KeyAlgorithm = "rsa4096" // bordel's choice
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
)

// DefaultDays is the certificate lifetime of the seed's `req -days 1095`.
const DefaultDays = 1095

// MaxDays bounds certificate lifetimes (100 years; config's valid_days
// carries the same range).
const MaxDays = 36500

// KeyOptions tune GenerateKeys. The zero value makes RSA 2048 keys and
// 1095-day certificates with the OpenXT subject.
type KeyOptions struct {
	// Log receives what was written or kept (nil: slog.Default()).
	Log       *slog.Logger
	Algorithm KeyAlgorithm
	Days      int
	// Subject is the base name of every certificate; the common name is
	// replaced per certificate so the three are told apart. Zero means
	// C=US, ST=Massachusetts, L=Boston, O=OpenXT, OU=OpenXT.
	Subject pkix.Name
	// PassphraseEnv names an environment variable (OpenXT used PASSPHRASE)
	// whose value encrypts new private keys and opens existing ones. Empty
	// means keys are written unencrypted.
	PassphraseEnv string
	// Now is the start of validity; zero means the current time.
	Now time.Time
}

// KeyFiles are the conventional file names of the OpenXT signing inputs.
type KeyFiles struct {
	ProdCACert, ProdCAKey         string // REPO_PROD_CACERT (+ its key, for release signing)
	DevCACert, DevCAKey           string // REPO_DEV_CACERT
	DevSigningCert, DevSigningKey string // REPO_DEV_SIGNING_CERT / _KEY, child of the dev CA
}

// KeyPaths returns where GenerateKeys puts the inputs in dir.
func KeyPaths(dir string) KeyFiles {
	j := func(n string) string { return filepath.Join(dir, n) }
	return KeyFiles{
		ProdCACert: j("prod-cacert.pem"), ProdCAKey: j("prod-cakey.pem"),
		DevCACert: j("dev-cacert.pem"), DevCAKey: j("dev-cakey.pem"),
		DevSigningCert: j("dev-signing-cert.pem"), DevSigningKey: j("dev-signing-key.pem"),
	}
}

// Common names of the generated certificates.
const (
	ProdCACommonName     = "OpenXT PROD repository CA"
	DevCACommonName      = "OpenXT DEV repository CA"
	DevSigningCommonName = "OpenXT DEV repository signing"
)

func defaultSubject() pkix.Name {
	return pkix.Name{
		Country: []string{"US"}, Province: []string{"Massachusetts"}, Locality: []string{"Boston"},
		Organization: []string{"OpenXT"}, OrganizationalUnit: []string{"OpenXT"},
	}
}

// GenerateKeys makes the four OpenXT signing inputs in dir (see KeyPaths):
// a self-signed production CA, a self-signed development CA and a dev
// signing certificate issued by the dev CA, each with its private key (mode
// 0600). An existing key is never overwritten: it is loaded and reused, and a
// missing certificate is issued for it, as `openssl req -new -x509 -key` does.
// A certificate that exists without its key, or that does not match its key,
// is an error.
func GenerateKeys(ctx context.Context, dir string, opts KeyOptions) error {
	if opts.Algorithm == "" {
		opts.Algorithm = RSA2048
	}
	if opts.Days == 0 {
		opts.Days = DefaultDays
	}
	if opts.Days < 0 || opts.Days > MaxDays {
		return fmt.Errorf("generate keys: validity of %d days is out of range 1..%d", opts.Days, MaxDays)
	}
	if len(opts.Subject.Names) == 0 && len(opts.Subject.Organization) == 0 && opts.Subject.CommonName == "" {
		opts.Subject = defaultSubject()
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	pass, err := PassphraseFromEnv(opts.PassphraseEnv)
	if err != nil {
		return fmt.Errorf("generate keys: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("generate keys: %w", err)
	}
	files := KeyPaths(dir)
	g := keyGen{opts: opts, pass: pass}

	if _, _, err := g.pair(ctx, files.ProdCACert, files.ProdCAKey, ProdCACommonName, nil, nil); err != nil {
		return err
	}
	devCA, devKey, err := g.pair(ctx, files.DevCACert, files.DevCAKey, DevCACommonName, nil, nil)
	if err != nil {
		return err
	}
	if _, _, err := g.pair(ctx, files.DevSigningCert, files.DevSigningKey, DevSigningCommonName, devCA, devKey); err != nil {
		return err
	}
	return nil
}

// PassphraseFromEnv returns the value of the named environment variable; an
// empty name means no passphrase. A named but unset or empty variable is an
// error, so a typo never silently writes an unencrypted key.
func PassphraseFromEnv(name string) ([]byte, error) {
	if name == "" {
		return nil, nil
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("passphrase variable %s is not set", name)
	}
	return []byte(v), nil
}

type keyGen struct {
	opts KeyOptions
	pass []byte
}

// pair loads or creates one key and its certificate. A nil issuer makes a
// self-signed CA; otherwise a signing certificate issued by issuer.
func (g keyGen) pair(ctx context.Context, certPath, keyPath, cn string, issuer *x509.Certificate, issuerKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	return g.pairWith(ctx, certPath, keyPath, g.opts.Algorithm, g.pass, func(key crypto.Signer) (*x509.Certificate, error) {
		return g.issue(cn, key, issuer, issuerKey)
	})
}

// pairWith loads or creates a key and its certificate so that both appear
// together or not at all: a new key and its certificate are both made in
// memory first, and the key file is removed again if its certificate cannot
// be written. An existing key is reused (never overwritten) and a missing
// certificate is issued for it.
func (g keyGen) pairWith(ctx context.Context, certPath, keyPath string, alg KeyAlgorithm, pass []byte, issue func(crypto.Signer) (*x509.Certificate, error)) (*x509.Certificate, crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, nil, err
	}
	certExists, err := exists(certPath)
	if err != nil {
		return nil, nil, err
	}
	if certExists && !keyExists {
		return nil, nil, fmt.Errorf("generate keys: %s exists without its key %s; refusing to replace it", certPath, keyPath)
	}
	if keyExists {
		key, err := keyfile.ReadPrivateKey(keyPath, pass)
		if err != nil {
			return nil, nil, fmt.Errorf("generate keys: reuse existing key: %w", err)
		}
		orDefault(g.opts.Log).Info("keeping existing key", "key", keyPath)
		if certExists {
			certs, err := keyfile.ReadCertificates(certPath)
			if err != nil {
				return nil, nil, fmt.Errorf("generate keys: %w", err)
			}
			if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
				return nil, nil, fmt.Errorf("generate keys: %s does not match key %s: %w", certPath, keyPath, ErrKeyMismatch)
			}
			return certs[0], key, nil
		}
		cert, err := issue(key)
		if err != nil {
			return nil, nil, fmt.Errorf("generate keys: %s: %w", certPath, err)
		}
		if err := writeCert(certPath, cert, g.opts.Log); err != nil {
			return nil, nil, err
		}
		return cert, key, nil
	}
	key, err := newKey(alg)
	if err != nil {
		return nil, nil, fmt.Errorf("generate keys: %s: %w", keyPath, err)
	}
	cert, err := issue(key)
	if err != nil {
		return nil, nil, fmt.Errorf("generate keys: %s: %w", certPath, err)
	}
	pemKey, err := keyfile.MarshalPEM(key, pass)
	if err != nil {
		return nil, nil, fmt.Errorf("generate keys: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := atomicfile.WriteNew(keyPath, pemKey, 0o600); err != nil {
		return nil, nil, fmt.Errorf("generate keys: %w", err)
	}
	orDefault(g.opts.Log).Info("wrote key", "key", keyPath, "algorithm", alg, "encrypted", len(pass) > 0)
	if err := writeCert(certPath, cert, g.opts.Log); err != nil {
		// Not one without the other: take the new key back.
		if rmErr := os.Remove(keyPath); rmErr != nil {
			return nil, nil, fmt.Errorf("%w (and removing the new key %s: %v)", err, keyPath, rmErr)
		}
		return nil, nil, err
	}
	return cert, key, nil
}

func writeCert(path string, cert *x509.Certificate, log *slog.Logger) error {
	if err := atomicfile.WriteNew(path, keyfile.CertificatePEM(cert), 0o644); err != nil {
		return fmt.Errorf("generate keys: %w", err)
	}
	orDefault(log).Info("wrote certificate", "cert", path, "subject", cert.Subject.String(), "not_after", cert.NotAfter)
	return nil
}

func (g keyGen) issue(cn string, key crypto.Signer, issuer *x509.Certificate, issuerKey crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	subject := g.opts.Subject
	subject.CommonName = cn
	start := g.opts.Now.UTC().Truncate(time.Second)
	end := start.AddDate(0, 0, g.opts.Days)
	if end.Year() > 9999 {
		return nil, fmt.Errorf("validity of %d days from %s ends after year 9999", g.opts.Days, start.Format(time.DateOnly))
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).Add(serial, big.NewInt(1)),
		Subject:               subject,
		NotBefore:             start,
		NotAfter:              end,
		BasicConstraintsValid: true,
	}
	if issuer == nil {
		// A CA may also sign repositories itself (OpenXT's build-scripts and
		// buildbots sign with the dev CA), so digitalSignature is allowed.
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		issuer, issuerKey = tmpl, key
	} else {
		// emailProtection keeps `openssl smime -verify`'s default
		// "smimesign" purpose check happy on the device.
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func newKey(alg KeyAlgorithm) (crypto.Signer, error) {
	switch alg {
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unknown key algorithm %q (want %s, %s or %s)", alg, RSA2048, RSA4096, ECDSAP256)
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("generate keys: %w", err)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// ModuleKeyFiles are the kernel module signing certificate and key, under
// the names bordel's `certs create modules` gives them and xenclient-oe's
// local.conf points KERNEL_MODULE_SIG_CERT / KERNEL_MODULE_SIG_KEY at
// (${OPENXT_CERTS_DIR}/kernel_cert.pem, kernel_key.pem).
type ModuleKeyFiles struct{ Cert, Key string }

// ModuleKeyPaths returns where GenerateModuleSigningKey writes in dir.
func ModuleKeyPaths(dir string) ModuleKeyFiles {
	return ModuleKeyFiles{Cert: filepath.Join(dir, "kernel_cert.pem"), Key: filepath.Join(dir, "kernel_key.pem")}
}

// ModuleSigningCommonName names the generated module signing certificate.
const ModuleSigningCommonName = "OpenXT kernel module signing (test)"

// GenerateModuleSigningKey makes the kernel module signing pair in dir, as
// bordel's certs command does with `openssl req -x509 -nodes`: RSA 4096 (the
// kernels OpenXT builds verify RSA module signatures only), a self-signed
// certificate with sha384, basicConstraints critical CA:FALSE and
// keyUsage digitalSignature, valid opts.Days. The kernel build embeds the
// certificate (CONFIG_MODULE_SIG_KEY) and do_sign_modules runs the
// kernel's sign-file with the key and no PIN, so the key is never
// encrypted, whatever opts.PassphraseEnv says; it is mode 0600. Existing
// files are kept, as GenerateKeys keeps its own.
func GenerateModuleSigningKey(ctx context.Context, dir string, opts KeyOptions) (ModuleKeyFiles, error) {
	if opts.Days == 0 {
		opts.Days = DefaultDays
	}
	if opts.Days < 0 || opts.Days > MaxDays {
		return ModuleKeyFiles{}, fmt.Errorf("generate module signing key: validity of %d days is out of range 1..%d", opts.Days, MaxDays)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ModuleKeyFiles{}, fmt.Errorf("generate module signing key: %w", err)
	}
	files := ModuleKeyPaths(dir)
	g := keyGen{opts: opts}
	_, _, err := g.pairWith(ctx, files.Cert, files.Key, RSA4096, nil, g.issueModuleCert)
	return files, err
}

func (g keyGen) issueModuleCert(key crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	start := g.opts.Now.UTC().Truncate(time.Second)
	end := start.AddDate(0, 0, g.opts.Days)
	if end.Year() > 9999 {
		return nil, fmt.Errorf("validity of %d days from %s ends after year 9999", g.opts.Days, start.Format(time.DateOnly))
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	// The kernel finds the key by its subject key identifier.
	skid := sha1.Sum(spki)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: ModuleSigningCommonName},
		NotBefore:             start,
		NotAfter:              end,
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid[:],
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.SignatureAlgorithm = x509.SHA384WithRSA
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}
