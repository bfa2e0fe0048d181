package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// VerifyOptions are the trust inputs of `openssl smime -verify`.
type VerifyOptions struct {
	// Roots are the trusted certificates (`-CAfile`). Required.
	Roots *x509.CertPool
	// Intermediates are untrusted certificates used for chain building in
	// addition to those embedded in the signature (`-certfile`).
	Intermediates []*x509.Certificate
	// CurrentTime is when certificate validity is checked; zero means now,
	// which is what openssl does (it does not use the signingTime attribute).
	CurrentTime time.Time
}

// Error kinds returned (wrapped) by Verify.
var (
	ErrNoSignerCert = errors.New("signer certificate not found in signature")
	ErrChain        = errors.New("signer certificate not trusted")
	ErrPurpose      = errors.New("unsupported certificate purpose")
	ErrDigest       = errors.New("content digest mismatch")
	ErrSignature    = errors.New("signature failure")
)

var hashByOID = map[string]crypto.Hash{
	oidSHA1.String():   crypto.SHA1,
	oidSHA224.String(): crypto.SHA224,
	oidSHA256.String(): crypto.SHA256,
	oidSHA384.String(): crypto.SHA384,
	oidSHA512.String(): crypto.SHA512,
}

// Verify checks every signer over the detached content like
// `openssl smime -verify -content FILE -CAfile ROOTS` with its default
// "smimesign" purpose: the signer certificate must chain to a root at the
// current time, must not exclude S/MIME signing by key usage or extended key
// usage, the messageDigest attribute must match the content, and the
// signature must verify. When the signature embeds content, content may be
// nil to check the embedded copy; a non-nil content wins, as `-content` does.
// It returns the signer certificates.
func (sd *SignedData) Verify(content []byte, opts VerifyOptions) ([]*x509.Certificate, error) {
	if opts.Roots == nil {
		return nil, errors.New("verify signature: no trusted certificates")
	}
	if content == nil {
		content = sd.Content
	}
	if content == nil {
		return nil, errors.New("verify signature: detached signature and no content")
	}
	now := opts.CurrentTime
	if now.IsZero() {
		now = time.Now()
	}
	inter := x509.NewCertPool()
	for _, c := range sd.Certificates {
		inter.AddCert(c)
	}
	for _, c := range opts.Intermediates {
		inter.AddCert(c)
	}
	var signers []*x509.Certificate
	for i, s := range sd.Signers {
		cert := sd.findCert(s, opts.Intermediates)
		if cert == nil {
			return nil, fmt.Errorf("verify signer %d: %w", i, ErrNoSignerCert)
		}
		if _, err := cert.Verify(x509.VerifyOptions{
			Roots:         opts.Roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		}); err != nil {
			return nil, fmt.Errorf("verify signer %q: %w: %w", cert.Subject, ErrChain, err)
		}
		// openssl's smimesign purpose: a keyUsage extension must allow
		// digitalSignature or nonRepudiation.
		if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
			return nil, fmt.Errorf("verify signer %q: %w: key usage forbids signing", cert.Subject, ErrPurpose)
		}
		h, ok := hashByOID[s.DigestAlgorithm.String()]
		if !ok || !h.Available() {
			return nil, fmt.Errorf("verify signer %q: unsupported digest algorithm %v", cert.Subject, s.DigestAlgorithm)
		}
		signed := content
		if s.SignedAttrs != nil {
			if s.MessageDigest == nil {
				return nil, fmt.Errorf("verify signer %q: %w: no messageDigest attribute", cert.Subject, ErrDigest)
			}
			if s.AttrContent != nil && !s.AttrContent.Equal(sd.ContentType) {
				return nil, fmt.Errorf("verify signer %q: contentType attribute %v does not match %v", cert.Subject, s.AttrContent, sd.ContentType)
			}
			md := h.New()
			md.Write(content)
			if subtle.ConstantTimeCompare(md.Sum(nil), s.MessageDigest) != 1 {
				return nil, fmt.Errorf("verify signer %q: %w", cert.Subject, ErrDigest)
			}
			signed = append([]byte{0x31}, s.SignedAttrs[1:]...)
		}
		if err := checkSignature(cert.PublicKey, s.SignatureAlgorithm, h, signed, s.Signature); err != nil {
			return nil, fmt.Errorf("verify signer %q: %w: %w", cert.Subject, ErrSignature, err)
		}
		signers = append(signers, cert)
	}
	return signers, nil
}

func (sd *SignedData) findCert(s SignerInfo, extra []*x509.Certificate) *x509.Certificate {
	for _, set := range [][]*x509.Certificate{sd.Certificates, extra} {
		for _, c := range set {
			if s.SubjectKeyID != nil {
				if bytes.Equal(c.SubjectKeyId, s.SubjectKeyID) {
					return c
				}
				continue
			}
			if bytes.Equal(c.RawIssuer, s.Issuer) && c.SerialNumber.Cmp(s.SerialNumber) == 0 {
				return c
			}
		}
	}
	return nil
}

// checkSignature verifies sig over data. The digest comes from the
// SignerInfo's digestAlgorithm, as in openssl; the signature algorithm OID
// only has to agree with the key type.
func checkSignature(pub crypto.PublicKey, alg asn1.ObjectIdentifier, h crypto.Hash, data, sig []byte) error {
	d := h.New()
	d.Write(data)
	sum := d.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch {
		case alg.Equal(oidRSAEncryption), alg.Equal(oidSHA1WithRSA), alg.Equal(oidSHA224WithRSA),
			alg.Equal(oidSHA256WithRSA), alg.Equal(oidSHA384WithRSA), alg.Equal(oidSHA512WithRSA):
		default:
			return fmt.Errorf("signature algorithm %v does not fit an RSA key", alg)
		}
		return rsa.VerifyPKCS1v15(k, h, sum, sig)
	case *ecdsa.PublicKey:
		switch {
		case alg.Equal(oidECPublicKey), alg.Equal(oidECDSAWithSHA1), alg.Equal(oidECDSASHA224),
			alg.Equal(oidECDSASHA256), alg.Equal(oidECDSASHA384), alg.Equal(oidECDSASHA512):
		default:
			return fmt.Errorf("signature algorithm %v does not fit an EC key", alg)
		}
		if !ecdsa.VerifyASN1(k, sum, sig) {
			return errors.New("ecdsa verification failed")
		}
		return nil
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}
