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
	ErrProdKey            = errors.New("production key used for a development signature")
	ErrSameCA             = errors.New("production and development CA have the same key")
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

// LoadDevSigner loads the development signer like LoadSigner and refuses it
// (ErrProdKey) when it is, or chains to, the production CA in prodCAFile, or
// when the production CA and the development CA in devCAFile share a key
// (ErrSameCA): a "development" signature would then be one every device
// accepts as a release.
func LoadDevSigner(certFile, keyFile, passphraseEnv, prodCAFile, devCAFile string) (*Signer, error) {
	s, err := LoadSigner(certFile, keyFile, passphraseEnv)
	if err != nil {
		return nil, err
	}
	prodCAs, err := keyfile.ReadCertificates(prodCAFile)
	if err != nil {
		return nil, fmt.Errorf("load development signer: production CA: %w", err)
	}
	if devCAFile != "" {
		devCAs, err := keyfile.ReadCertificates(devCAFile)
		if err != nil {
			return nil, fmt.Errorf("load development signer: development CA: %w", err)
		}
		if err := distinctCAs(prodCAs, devCAs, prodCAFile, devCAFile); err != nil {
			return nil, fmt.Errorf("load development signer: %w", err)
		}
	}
	for _, pc := range prodCAs {
		if publicKeysEqual(pc.PublicKey, s.Key.Public()) {
			return nil, fmt.Errorf("load development signer: %s is the production CA's key (%s): %w", keyFile, prodCAFile, ErrProdKey)
		}
	}
	if issuedByAny(s, prodCAs) {
		return nil, fmt.Errorf("load development signer: %q chains to the production CA %s: %w", s.Cert.Subject.String(), prodCAFile, ErrProdKey)
	}
	return s, nil
}

// distinctCAs refuses production and development CAs that share a key.
func distinctCAs(prodCAs, devCAs []*x509.Certificate, prodFile, devFile string) error {
	for _, dc := range devCAs {
		for _, pc := range prodCAs {
			if publicKeysEqual(dc.PublicKey, pc.PublicKey) {
				return fmt.Errorf("%s and %s: %w", prodFile, devFile, ErrSameCA)
			}
		}
	}
	return nil
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
