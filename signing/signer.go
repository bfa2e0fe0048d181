package signing

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/xtbuild/xtbuild/signing/keyfile"
	"github.com/xtbuild/xtbuild/signing/smime"
)

// Refusals, matched with errors.Is.
var (
	ErrKeyMismatch        = errors.New("private key does not match certificate")
	ErrDevKey             = errors.New("development key used for a release signature")
	ErrNotProdSigner      = errors.New("signer does not chain to the production CA")
	ErrCertExpired        = errors.New("certificate expired")
	ErrCertNotYetValid    = errors.New("certificate not yet valid")
	ErrRepositoryMismatch = errors.New("repository does not match its metadata")
	ErrRepositorySigned   = errors.New("repository signature does not verify")
)

// Signer signs XC-REPOSITORY: a certificate, its private key and any
// intermediate certificates to embed.
type Signer struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate
	// Now stamps the signingTime attribute; nil means time.Now.
	Now func() time.Time
}

// LoadSigner reads a signer from PEM files: the first certificate of
// certFile signs, any further ones are embedded as intermediates. The key is
// opened with the passphrase in the environment variable passphraseEnv (if
// named), like sign_repo.sh's `-passin env:PASSPHRASE`.
func LoadSigner(certFile, keyFile, passphraseEnv string) (*Signer, error) {
	certs, err := keyfile.ReadCertificates(certFile)
	if err != nil {
		return nil, fmt.Errorf("load signer: %w", err)
	}
	var pass []byte
	if passphraseEnv != "" {
		if pass, err = PassphraseFromEnv(passphraseEnv); err != nil {
			return nil, fmt.Errorf("load signer: %w", err)
		}
	}
	key, err := keyfile.ReadPrivateKey(keyFile, pass)
	if err != nil {
		return nil, fmt.Errorf("load signer: %w", err)
	}
	s := &Signer{Cert: certs[0], Key: key, Chain: certs[1:]}
	if err := s.checkKey(); err != nil {
		return nil, fmt.Errorf("load signer %s: %w", keyFile, err)
	}
	return s, nil
}

func (s *Signer) checkKey() error {
	if s == nil || s.Cert == nil || s.Key == nil {
		return errors.New("signer needs a certificate and a key")
	}
	if !publicKeysEqual(s.Cert.PublicKey, s.Key.Public()) {
		return fmt.Errorf("%w (%s)", ErrKeyMismatch, s.Cert.Subject)
	}
	return nil
}

// Sign returns the PEM detached S/MIME signature of content, what
// `openssl smime -sign -binary -outform PEM -signer CERT -inkey KEY` writes.
func (s *Signer) Sign(content []byte) ([]byte, error) {
	if err := s.checkKey(); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	t := time.Now()
	if s.Now != nil {
		t = s.Now()
	}
	der, err := smime.Sign(content, s.Cert, s.Key, smime.SignOptions{Time: t, Extra: s.Chain})
	if err != nil {
		return nil, err
	}
	return smime.EncodePEM(der), nil
}

// checkValidity refuses a certificate outside its validity window at now.
func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%q valid from %s: %w", c.Subject.String(), c.NotBefore.UTC().Format(time.RFC3339), ErrCertNotYetValid)
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("%q valid until %s: %w", c.Subject.String(), c.NotAfter.UTC().Format(time.RFC3339), ErrCertExpired)
	}
	return nil
}
