// Package smime makes and checks detached PKCS#7 SignedData signatures in the
// shape `openssl smime -sign -binary -outform PEM` produces, which is what
// OpenXT devices check with `openssl smime -verify`.
//
// It is written on encoding/asn1 and x/crypto/cryptobyte rather than a PKCS#7
// library so that every field matches openssl's output (digest parameters,
// attribute set, S/MIME capabilities, certificate order): for an RSA key the
// DER is byte-identical to openssl's when the signing time is the same.
package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// PEMType is the PEM block type openssl writes for PKCS#7 (`-outform PEM`).
const PEMType = "PKCS7"

var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidAttrContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMsgDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSMIMECaps   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 15}

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidSHA224WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}
	oidECPublicKey   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSASHA224   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}

	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

var digestOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   oidSHA1,
	crypto.SHA224: oidSHA224,
	crypto.SHA256: oidSHA256,
	crypto.SHA384: oidSHA384,
	crypto.SHA512: oidSHA512,
}

var ecdsaSigOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   oidECDSAWithSHA1,
	crypto.SHA224: oidECDSASHA224,
	crypto.SHA256: oidECDSASHA256,
	crypto.SHA384: oidECDSASHA384,
	crypto.SHA512: oidECDSASHA512,
}

// smimeCapabilities is the list OpenSSL 3.0 advertises by default (strongest
// first, as openssl orders it). It only announces ciphers the signer could
// decrypt; it is carried so our signature has the same attribute set as
// openssl's.
var smimeCapabilities = []struct {
	oid    asn1.ObjectIdentifier
	rc2Bit int64 // >0: RC2 effective key bits parameter
}{
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, 0}, // aes-256-cbc
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}, 0}, // aes-192-cbc
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}, 0},  // aes-128-cbc
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}, 0},         // des-ede3-cbc
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}, 128},       // rc2-cbc 128
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}, 64},        // rc2-cbc 64
	{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 7}, 0},               // des-cbc
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}, 40},        // rc2-cbc 40
}

// SignOptions tune Sign. The zero value signs like openssl: SHA-256, now.
type SignOptions struct {
	// Hash is the message digest; zero means SHA-256 (openssl's default for
	// RSA and EC keys).
	Hash crypto.Hash
	// Time is the signingTime attribute; zero means time.Now().
	Time time.Time
	// Extra certificates embedded after the signer's (intermediate CAs), as
	// `-certfile` adds them.
	Extra []*x509.Certificate
	// NoSMIMECapabilities leaves the capabilities attribute out
	// (`-nosmimecap`).
	NoSMIMECapabilities bool
}

// Sign returns the DER of a detached PKCS#7 SignedData over content, signed by
// key whose certificate is cert. The key must be an RSA or ECDSA key.
func Sign(content []byte, cert *x509.Certificate, key crypto.Signer, opts SignOptions) ([]byte, error) {
	if cert == nil || key == nil {
		return nil, errors.New("smime sign: certificate and key are required")
	}
	h := opts.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	digestOID, ok := digestOIDs[h]
	if !ok || !h.Available() {
		return nil, fmt.Errorf("smime sign: unsupported digest %v", h)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("smime sign: private key does not match the signer certificate")
	}
	var sigAlg func(b *cryptobyte.Builder)
	switch key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = func(b *cryptobyte.Builder) { addAlgorithm(b, oidRSAEncryption, true) }
	case *ecdsa.PublicKey:
		sigAlg = func(b *cryptobyte.Builder) { addAlgorithm(b, ecdsaSigOIDs[h], false) }
	default:
		return nil, fmt.Errorf("smime sign: unsupported key type %T", key.Public())
	}
	t := opts.Time
	if t.IsZero() {
		t = time.Now()
	}
	md := h.New()
	md.Write(content)

	attrs, err := signedAttributes(md.Sum(nil), t.UTC(), !opts.NoSMIMECapabilities)
	if err != nil {
		return nil, err
	}
	// The signature covers the attributes re-tagged as a universal SET.
	toSign := append([]byte{0x31}, attrs[1:]...)
	ad := h.New()
	ad.Write(toSign)
	sig, err := key.Sign(rand.Reader, ad.Sum(nil), h)
	if err != nil {
		return nil, fmt.Errorf("smime sign: %w", err)
	}

	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { addAlgorithm(b, digestOID, true) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) })
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddBytes(cert.Raw)
					for _, c := range opts.Extra {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						addAlgorithm(b, digestOID, true)
						b.AddBytes(attrs)
						sigAlg(b)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("smime sign: encode: %w", err)
	}
	return der, nil
}

// EncodePEM wraps DER the way openssl's `-outform PEM` does.
func EncodePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: der})
}

// signedAttributes returns the [0] IMPLICIT SET OF Attribute, DER-sorted as
// openssl sorts them.
func signedAttributes(digest []byte, t time.Time, caps bool) ([]byte, error) {
	var encoded [][]byte
	add := func(oid asn1.ObjectIdentifier, value func(b *cryptobyte.Builder)) error {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		})
		out, err := b.Bytes()
		if err != nil {
			return fmt.Errorf("smime sign: encode attribute %v: %w", oid, err)
		}
		encoded = append(encoded, out)
		return nil
	}
	if err := add(oidAttrContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) }); err != nil {
		return nil, err
	}
	if err := add(oidAttrSigningTime, func(b *cryptobyte.Builder) { addTime(b, t) }); err != nil {
		return nil, err
	}
	if err := add(oidAttrMsgDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }); err != nil {
		return nil, err
	}
	if caps {
		err := add(oidAttrSMIMECaps, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, c := range smimeCapabilities {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(c.oid)
						if c.rc2Bit > 0 {
							b.AddASN1Int64(c.rc2Bit)
						}
					})
				}
			})
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(encoded, func(i, j int) bool { return bytes.Compare(encoded[i], encoded[j]) < 0 })
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
		for _, e := range encoded {
			b.AddBytes(e)
		}
	})
	return b.Bytes()
}

// addTime writes UTCTime up to 2049 and GeneralizedTime after, as RFC 5652
// requires for signingTime.
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	if t.Year() >= 1950 && t.Year() < 2050 {
		b.AddASN1(cbasn1.UTCTime, func(b *cryptobyte.Builder) { b.AddBytes([]byte(t.Format("060102150405Z"))) })
		return
	}
	b.AddASN1(cbasn1.GeneralizedTime, func(b *cryptobyte.Builder) { b.AddBytes([]byte(t.Format("20060102150405Z"))) })
}

func addAlgorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, nullParams bool) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if nullParams {
			b.AddASN1NULL()
		}
	})
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}
