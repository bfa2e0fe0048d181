package provenance

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/signing"
	"github.com/xtbuild/xtbuild/signing/keyfile"
	"github.com/xtbuild/xtbuild/signing/smime"
)

// ErrSignature is returned (wrapped) when a provenance file does not verify
// against its signature: it was changed after signing, or signed by a key
// the trusted CA did not certify.
var ErrSignature = errors.New("provenance signature does not verify")

// DevSigner loads the build's development signing key and certificate, the
// key that signs the repository of a dev build.
func DevSigner(c *config.Config) (*signing.Signer, error) {
	// The passphrase variable applies only when it is set (keys are plain otherwise).
	env := c.Signing.PassphraseEnv
	if os.Getenv(env) == "" {
		env = ""
	}
	return signing.LoadSigner(c.Abs(c.Signing.DevSigningCert), c.Abs(c.Signing.DevSigningKey), env)
}

// Sign writes path+".sig": a detached PEM S/MIME signature of the file's
// exact bytes, which
//
//	openssl smime -verify -binary -inform PEM -in provenance.json.sig \
//	    -content provenance.json -CAfile certs/dev-cacert.pem -out /dev/null
//
// verifies. It returns the signature's path.
func Sign(path string, s *signing.Signer) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("sign provenance: %w", err)
	}
	sig, err := s.Sign(data)
	if err != nil {
		return "", fmt.Errorf("sign provenance: %w", err)
	}
	sigPath := path + SignatureSuffix
	if err := atomicfile.WriteFile(sigPath, sig, 0o644); err != nil {
		return "", fmt.Errorf("sign provenance: %w", err)
	}
	return sigPath, nil
}

// Verify checks the provenance file at path against its detached signature
// (sigPath, default path+".sig") with the certificates in caFile as trust
// roots, as openssl smime -verify does, and then parses and validates it.
func Verify(path, sigPath, caFile string) (*Document, error) {
	if sigPath == "" {
		sigPath = path + SignatureSuffix
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("verify provenance: %w", err)
	}
	sigData, err := os.ReadFile(sigPath)
	if err != nil {
		return nil, fmt.Errorf("verify provenance: %w", err)
	}
	roots, err := keyfile.ReadCertificates(caFile)
	if err != nil {
		return nil, fmt.Errorf("verify provenance: %w", err)
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	sd, err := smime.ParsePEM(sigData)
	if err != nil {
		return nil, fmt.Errorf("verify provenance: %s: %w", sigPath, err)
	}
	if _, err := sd.Verify(data, smime.VerifyOptions{Roots: pool}); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrSignature, err)
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}
