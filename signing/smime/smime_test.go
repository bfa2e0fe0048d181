package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// needOpenSSL returns the openssl binary. The real CLI is what devices run,
// so CI (CI=true) must have it; elsewhere a missing binary skips.
func needOpenSSL(t testing.TB) string {
	t.Helper()
	return testenv.LookPath(t, "openssl", "openssl")
}

func run(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(err.Error() + ": " + stderr.String())
	}
	return out, nil
}

func mustRun(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := run(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// pki is a test CA and a signer (the CA itself or a leaf issued by it),
// with PEM files for openssl.
type pki struct {
	caCert, cert *x509.Certificate
	key          crypto.Signer
	caFile       string
	certFile     string
	keyFile      string
}

type pkiOpts struct {
	ec        bool
	leaf      bool // signer is a leaf under the CA; else the CA signs itself
	notBefore time.Time
	notAfter  time.Time
	leafKU    x509.KeyUsage
	leafEKU   []x509.ExtKeyUsage
}

func newKey(t testing.TB, ec bool) crypto.Signer {
	t.Helper()
	if ec {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func makePKI(t testing.TB, o pkiOpts) *pki {
	t.Helper()
	dir := t.TempDir()
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().AddDate(3, 0, 0)
	}
	caKey := newKey(t, o.ec)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA", Organization: []string{"OpenXT"}},
		NotBefore: o.notBefore, NotAfter: o.notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{caCert: ca, cert: ca, key: caKey, caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "ca.pem"), keyFile: filepath.Join(dir, "cakey.pem")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	k8, _ := x509.MarshalPKCS8PrivateKey(caKey)
	writePEM(t, p.keyFile, "PRIVATE KEY", k8)
	if !o.leaf {
		return p
	}
	leafKey := newKey(t, o.ec)
	ku := o.leafKU
	if ku == 0 {
		ku = x509.KeyUsageDigitalSignature
	}
	eku := o.leafEKU
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	}
	lt := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test signer"},
		NotBefore: o.notBefore, NotAfter: o.notAfter, BasicConstraintsValid: true,
		KeyUsage: ku, ExtKeyUsage: eku,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, lt, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.cert, _ = x509.ParseCertificate(leafDER)
	p.key = leafKey
	p.certFile, p.keyFile = filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leafkey.pem")
	writePEM(t, p.certFile, "CERTIFICATE", leafDER)
	k8, _ = x509.MarshalPKCS8PrivateKey(leafKey)
	writePEM(t, p.keyFile, "PRIVATE KEY", k8)
	return p
}

func content(t testing.TB) []byte {
	b := make([]byte, 1<<20)
	copy(b, "xc:main\npack:Base Pack\n")
	for i := 32; i < len(b); i++ {
		b[i] = '\n'
	}
	return b
}

// opensslVerify runs the device's exact command line.
func opensslVerify(t *testing.T, sigPEM, data []byte, caFile string) error {
	t.Helper()
	ossl := needOpenSSL(t)
	dir := t.TempDir()
	sig, cont := filepath.Join(dir, "XC-SIGNATURE"), filepath.Join(dir, "XC-REPOSITORY")
	os.WriteFile(sig, sigPEM, 0o644)
	os.WriteFile(cont, data, 0o644)
	out, err := run(t, ossl, "smime", "-verify", "-in", sig, "-inform", "PEM", "-content", cont, "-CAfile", caFile)
	if err == nil && !bytes.Equal(out, data) {
		return errors.New("openssl verified but printed different content")
	}
	return err
}

func TestOpenSSLVerifiesOurSignature(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    pkiOpts
	}{
		{"rsa self-signed CA signs", pkiOpts{}},
		{"rsa leaf under CA", pkiOpts{leaf: true}},
		{"ecdsa self-signed CA signs", pkiOpts{ec: true}},
		{"ecdsa leaf under CA", pkiOpts{ec: true, leaf: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := makePKI(t, tc.o)
			data := content(t)
			der, err := Sign(data, p.cert, p.key, SignOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sig := EncodePEM(der)
			if err := opensslVerify(t, sig, data, p.caFile); err != nil {
				t.Fatalf("openssl smime -verify rejected our signature: %v", err)
			}
			// The same signature must fail for altered content.
			bad := bytes.Clone(data)
			bad[len(bad)-1] ^= 1
			if err := opensslVerify(t, sig, bad, p.caFile); err == nil {
				t.Fatal("openssl accepted the signature over altered content")
			}
		})
	}
}

// An RSA PKCS#1 v1.5 signature is deterministic, so with openssl's signing
// time our DER must equal openssl's byte for byte.
func TestSignIsByteIdenticalToOpenSSL(t *testing.T) {
	ossl := needOpenSSL(t)
	for _, leaf := range []bool{false, true} {
		p := makePKI(t, pkiOpts{leaf: leaf})
		dir := t.TempDir()
		data := content(t)
		in, out := filepath.Join(dir, "XC-REPOSITORY"), filepath.Join(dir, "XC-SIGNATURE")
		os.WriteFile(in, data, 0o644)
		// sign_repo.sh's command line, -aes256 included (it has no effect on signing).
		mustRun(t, ossl, "smime", "-sign", "-aes256", "-binary", "-in", in, "-out", out, "-outform", "PEM", "-signer", p.certFile, "-inkey", p.keyFile)
		theirs, _ := os.ReadFile(out)
		sd, err := ParsePEM(theirs)
		if err != nil {
			t.Fatal(err)
		}
		der, err := Sign(data, p.cert, p.key, SignOptions{Time: sd.Signers[0].SigningTime})
		if err != nil {
			t.Fatal(err)
		}
		if ours := EncodePEM(der); !bytes.Equal(ours, theirs) {
			t.Errorf("leaf=%v: our PEM differs from openssl's\nours:\n%s\ntheirs:\n%s", leaf, ours, theirs)
		}
	}
}

func TestVerifyAcceptsOpenSSLSignatures(t *testing.T) {
	ossl := needOpenSSL(t)
	for _, tc := range []struct {
		name  string
		o     pkiOpts
		extra []string
	}{
		{"rsa default", pkiOpts{}, nil},
		{"rsa leaf", pkiOpts{leaf: true}, nil},
		{"ecdsa leaf", pkiOpts{ec: true, leaf: true}, nil},
		{"sha512", pkiOpts{}, []string{"-md", "sha512"}},
		{"sha1 (old devices' default)", pkiOpts{}, []string{"-md", "sha1"}},
		{"no attributes", pkiOpts{leaf: true}, []string{"-noattr"}},
		{"streamed BER", pkiOpts{leaf: true}, []string{"-stream"}},
		{"embedded content", pkiOpts{}, []string{"-nodetach"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := makePKI(t, tc.o)
			dir := t.TempDir()
			data := content(t)
			in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			os.WriteFile(in, data, 0o644)
			args := append([]string{"smime", "-sign", "-binary", "-in", in, "-out", out, "-outform", "PEM", "-signer", p.certFile, "-inkey", p.keyFile}, tc.extra...)
			mustRun(t, ossl, args...)
			raw, _ := os.ReadFile(out)
			sd, err := ParsePEM(raw)
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(p.caCert)
			signers, err := sd.Verify(data, VerifyOptions{Roots: roots})
			if err != nil {
				t.Fatalf("our verifier rejected openssl's signature: %v", err)
			}
			if len(signers) != 1 || !signers[0].Equal(p.cert) {
				t.Fatalf("signers = %v", signers)
			}
			bad := bytes.Clone(data)
			bad[7] ^= 0x20
			if _, err := sd.Verify(bad, VerifyOptions{Roots: roots}); err == nil {
				t.Fatal("accepted altered content")
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	data := content(t)
	good := makePKI(t, pkiOpts{leaf: true})
	other := makePKI(t, pkiOpts{leaf: true})
	expired := makePKI(t, pkiOpts{leaf: true, notBefore: time.Now().AddDate(-4, 0, 0), notAfter: time.Now().AddDate(-1, 0, 0)})
	future := makePKI(t, pkiOpts{leaf: true, notBefore: time.Now().AddDate(1, 0, 0), notAfter: time.Now().AddDate(4, 0, 0)})
	wrongKU := makePKI(t, pkiOpts{leaf: true, leafKU: x509.KeyUsageKeyEncipherment})
	wrongEKU := makePKI(t, pkiOpts{leaf: true, leafEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})

	sign := func(p *pki, at time.Time) []byte {
		der, err := Sign(data, p.cert, p.key, SignOptions{Time: at})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	flipped := sign(good, time.Time{})
	flipped[len(flipped)-5] ^= 0x01 // inside the signature value
	for _, tc := range []struct {
		name string
		der  []byte
		ca   *pki
		want error
	}{
		{"untrusted CA", sign(good, time.Time{}), other, ErrChain},
		{"expired signer", sign(expired, expired.cert.NotBefore.Add(time.Hour)), expired, ErrChain},
		{"not yet valid signer", sign(future, time.Time{}), future, ErrChain},
		{"key usage without digitalSignature", sign(wrongKU, time.Time{}), wrongKU, ErrPurpose},
		{"extended key usage serverAuth only", sign(wrongEKU, time.Time{}), wrongEKU, ErrChain},
		{"flipped signature byte", flipped, good, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := Parse(tc.der)
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(tc.ca.caCert)
			_, err = sd.Verify(data, VerifyOptions{Roots: roots})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// openssl agrees with every refusal.
			if oerr := opensslVerify(t, EncodePEM(tc.der), data, tc.ca.caFile); oerr == nil {
				t.Fatal("openssl accepted what we rejected")
			}
		})
	}
	t.Run("altered content", func(t *testing.T) {
		sd, _ := Parse(sign(good, time.Time{}))
		roots := x509.NewCertPool()
		roots.AddCert(good.caCert)
		bad := bytes.Clone(data)
		bad[100] = 'x'
		if _, err := sd.Verify(bad, VerifyOptions{Roots: roots}); !errors.Is(err, ErrDigest) {
			t.Fatalf("err = %v, want %v", err, ErrDigest)
		}
	})
}

func TestSignRefusesMismatchedKey(t *testing.T) {
	a, b := makePKI(t, pkiOpts{}), makePKI(t, pkiOpts{})
	if _, err := Sign([]byte("x"), a.cert, b.key, SignOptions{}); err == nil {
		t.Fatal("signed with a key that does not match the certificate")
	}
}

func TestSigningTimeEncoding(t *testing.T) {
	p := makePKI(t, pkiOpts{ec: true})
	for _, at := range []time.Time{
		time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC), // last UTCTime second
		time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),      // GeneralizedTime from here
	} {
		der, err := Sign([]byte("x"), p.cert, p.key, SignOptions{Time: at})
		if err != nil {
			t.Fatal(err)
		}
		sd, err := Parse(der)
		if err != nil {
			t.Fatal(err)
		}
		if got := sd.Signers[0].SigningTime; !got.Equal(at) {
			t.Errorf("signing time %v round-tripped as %v", at, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	p := makePKI(f, pkiOpts{ec: true, leaf: true})
	der, err := Sign([]byte("seed"), p.cert, p.key, SignOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := Parse(b)
		if err != nil {
			return
		}
		sd.Verify([]byte("seed"), VerifyOptions{Roots: roots}) // must not panic
	})
}
