package smime

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignedData is a parsed PKCS#7 SignedData.
type SignedData struct {
	// ContentType is the encapsulated content type (id-data for S/MIME).
	ContentType asn1.ObjectIdentifier
	// Content is the embedded content, nil for a detached signature.
	Content      []byte
	Certificates []*x509.Certificate
	Signers      []SignerInfo
}

// SignerInfo is one signer of a SignedData.
type SignerInfo struct {
	// Issuer (raw DER Name) and SerialNumber identify the signer certificate;
	// SubjectKeyID is set instead for CMS version 3 signers.
	Issuer       []byte
	SerialNumber *big.Int
	SubjectKeyID []byte

	DigestAlgorithm    asn1.ObjectIdentifier
	SignatureAlgorithm asn1.ObjectIdentifier
	Signature          []byte

	// SignedAttrs is the DER of the [0] IMPLICIT attribute set, nil if the
	// signer signed the content directly (`-noattr`).
	SignedAttrs   []byte
	MessageDigest []byte
	AttrContent   asn1.ObjectIdentifier
	SigningTime   time.Time
}

// ParsePEM decodes the first PKCS7 PEM block (openssl also accepts the
// "PKCS #7 SIGNED DATA" and "CMS" labels, so do we).
func ParsePEM(data []byte) (*SignedData, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("parse signature: no PKCS7 PEM block")
		}
		switch block.Type {
		case PEMType, "PKCS #7 SIGNED DATA", "CMS":
			return Parse(block.Bytes)
		}
	}
}

// Parse decodes a DER or BER PKCS#7 ContentInfo holding SignedData.
func Parse(der []byte) (*SignedData, error) {
	norm, err := normalizeBER(der)
	if err != nil {
		return nil, fmt.Errorf("parse signature: %w", err)
	}
	in := cryptobyte.String(norm)
	var ci, sd cryptobyte.String
	var ctype asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1ObjectIdentifier(&ctype) {
		return nil, errors.New("parse signature: malformed ContentInfo")
	}
	if !ctype.Equal(oidSignedData) {
		return nil, fmt.Errorf("parse signature: content type %v is not signedData", ctype)
	}
	var explicit cryptobyte.String
	if !ci.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!explicit.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil, errors.New("parse signature: malformed SignedData wrapper")
	}
	out := &SignedData{}
	var version int64
	var digestAlgs, encap cryptobyte.String
	if !sd.ReadASN1Integer(&version) || !sd.ReadASN1(&digestAlgs, cbasn1.SET) ||
		!sd.ReadASN1(&encap, cbasn1.SEQUENCE) || !encap.ReadASN1ObjectIdentifier(&out.ContentType) {
		return nil, errors.New("parse signature: malformed SignedData header")
	}
	if !encap.Empty() {
		var wrapped, content cryptobyte.String
		if !encap.ReadASN1(&wrapped, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
			!wrapped.ReadASN1(&content, cbasn1.OCTET_STRING) {
			return nil, errors.New("parse signature: unsupported embedded content encoding")
		}
		out.Content = []byte(content)
	}
	var certs cryptobyte.String
	var hasCerts bool
	if !sd.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errors.New("parse signature: malformed certificates")
	}
	for !certs.Empty() {
		var raw cryptobyte.String
		var tag cbasn1.Tag
		if !certs.ReadAnyASN1Element(&raw, &tag) {
			return nil, errors.New("parse signature: malformed certificate set")
		}
		if tag != cbasn1.SEQUENCE {
			continue // attribute or other certificate choices: not used by S/MIME signers
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("parse signature: embedded certificate: %w", err)
		}
		out.Certificates = append(out.Certificates, c)
	}
	if !sd.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return nil, errors.New("parse signature: malformed CRLs")
	}
	var infos cryptobyte.String
	if !sd.ReadASN1(&infos, cbasn1.SET) {
		return nil, errors.New("parse signature: missing signerInfos")
	}
	for !infos.Empty() {
		var si cryptobyte.String
		if !infos.ReadASN1(&si, cbasn1.SEQUENCE) {
			return nil, errors.New("parse signature: malformed SignerInfo")
		}
		s, err := parseSignerInfo(si)
		if err != nil {
			return nil, fmt.Errorf("parse signature: %w", err)
		}
		out.Signers = append(out.Signers, s)
	}
	if len(out.Signers) == 0 {
		return nil, errors.New("parse signature: no signers")
	}
	return out, nil
}

func parseSignerInfo(si cryptobyte.String) (SignerInfo, error) {
	var s SignerInfo
	var version int64
	if !si.ReadASN1Integer(&version) {
		return s, errors.New("signer: bad version")
	}
	switch {
	case si.PeekASN1Tag(cbasn1.SEQUENCE):
		var ias cryptobyte.String
		var issuer cryptobyte.String
		var tag cbasn1.Tag
		s.SerialNumber = new(big.Int)
		if !si.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadAnyASN1Element(&issuer, &tag) ||
			!ias.ReadASN1Integer(s.SerialNumber) {
			return s, errors.New("signer: bad issuerAndSerialNumber")
		}
		s.Issuer = []byte(issuer)
	case si.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
		var skid cryptobyte.String
		if !si.ReadASN1(&skid, cbasn1.Tag(0).ContextSpecific()) {
			return s, errors.New("signer: bad subjectKeyIdentifier")
		}
		s.SubjectKeyID = []byte(skid)
	default:
		return s, errors.New("signer: unknown signer identifier")
	}
	var err error
	if s.DigestAlgorithm, err = readAlgorithm(&si); err != nil {
		return s, fmt.Errorf("signer digest algorithm: %w", err)
	}
	attrTag := cbasn1.Tag(0).Constructed().ContextSpecific()
	if si.PeekASN1Tag(attrTag) {
		var full cryptobyte.String
		if !si.ReadASN1Element(&full, attrTag) {
			return s, errors.New("signer: bad signed attributes")
		}
		s.SignedAttrs = []byte(full)
		if err := s.decodeAttributes(); err != nil {
			return s, err
		}
	}
	if s.SignatureAlgorithm, err = readAlgorithm(&si); err != nil {
		return s, fmt.Errorf("signer signature algorithm: %w", err)
	}
	var sig cryptobyte.String
	if !si.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return s, errors.New("signer: bad signature")
	}
	s.Signature = []byte(sig)
	return s, nil
}

func (s *SignerInfo) decodeAttributes() error {
	in := cryptobyte.String(s.SignedAttrs)
	var set cryptobyte.String
	if !in.ReadASN1(&set, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return errors.New("signer: bad signed attributes")
	}
	seen := map[string]bool{}
	for !set.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !set.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) {
			return errors.New("signer: malformed attribute")
		}
		// RFC 5652 5.3: these attributes must appear once with one value.
		single := oid.Equal(oidAttrMsgDigest) || oid.Equal(oidAttrContentType) || oid.Equal(oidAttrSigningTime)
		if single && seen[oid.String()] {
			return fmt.Errorf("signer: attribute %v repeated", oid)
		}
		seen[oid.String()] = true
		switch {
		case oid.Equal(oidAttrMsgDigest):
			var d cryptobyte.String
			if !values.ReadASN1(&d, cbasn1.OCTET_STRING) || !values.Empty() {
				return errors.New("signer: bad messageDigest attribute")
			}
			s.MessageDigest = bytes.Clone(d)
		case oid.Equal(oidAttrContentType):
			if !values.ReadASN1ObjectIdentifier(&s.AttrContent) || !values.Empty() {
				return errors.New("signer: bad contentType attribute")
			}
		case oid.Equal(oidAttrSigningTime):
			var t time.Time
			var ok bool
			switch {
			case values.PeekASN1Tag(cbasn1.UTCTime):
				ok = values.ReadASN1UTCTime(&t)
			case values.PeekASN1Tag(cbasn1.GeneralizedTime):
				ok = values.ReadASN1GeneralizedTime(&t)
			}
			if !ok {
				return errors.New("signer: bad signingTime attribute")
			}
			s.SigningTime = t
		}
	}
	return nil
}

func readAlgorithm(s *cryptobyte.String) (asn1.ObjectIdentifier, error) {
	var alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, errors.New("malformed AlgorithmIdentifier")
	}
	return oid, nil
}
