package signing

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/signing/keyfile"
)

func TestGenerateKeysOpenSSLInterop(t *testing.T) {
	ossl := needOpenSSL(t)
	for _, tc := range []struct {
		alg  KeyAlgorithm
		bits int
	}{
		{"", 2048}, // default RSA 2048
		{ECDSAP256, 256},
		{RSA4096, 4096},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			if tc.alg == RSA4096 && testing.Short() {
				t.Skip("RSA 4096 generation is slow; -short")
			}
			dir := t.TempDir()
			if err := GenerateKeys(context.Background(), dir, KeyOptions{Algorithm: tc.alg}); err != nil {
				t.Fatal(err)
			}
			f := KeyPaths(dir)
			for _, k := range []string{f.ProdCAKey, f.DevCAKey, f.DevSigningKey} {
				st, err := os.Stat(k)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v, want 0600", k, st.Mode().Perm())
				}
				out, err := runCmd(t, nil, ossl, "pkey", "-in", k, "-noout", "-text")
				if err != nil {
					t.Fatalf("openssl cannot read %s: %v", k, err)
				}
				if want := "(" + itoa(tc.bits) + " bit"; !strings.Contains(string(out), want) {
					t.Errorf("%s: openssl says %q, want %s", k, firstLine(out), want)
				}
			}
			// Validity is 1095 days, as the seed's `req -days 1095`.
			for _, c := range []string{f.ProdCACert, f.DevCACert, f.DevSigningCert} {
				cert := readCert(t, c)
				if d := cert.NotAfter.Sub(cert.NotBefore); d != 1095*24*time.Hour {
					t.Errorf("%s valid for %v", c, d)
				}
				if !strings.Contains(cert.Subject.String(), "O=OpenXT") || !strings.Contains(cert.Subject.String(), "L=Boston") {
					t.Errorf("%s subject %s", c, cert.Subject)
				}
			}
			// The dev signing certificate is a child of the dev CA, fit for
			// S/MIME signing, and not of the prod CA.
			if _, err := runCmd(t, nil, ossl, "verify", "-purpose", "smimesign", "-CAfile", f.DevCACert, f.DevSigningCert); err != nil {
				t.Errorf("openssl verify dev signing cert: %v", err)
			}
			if _, err := runCmd(t, nil, ossl, "verify", "-CAfile", f.ProdCACert, f.DevSigningCert); err == nil {
				t.Error("dev signing cert verifies against the prod CA")
			}
			for _, ca := range []string{f.ProdCACert, f.DevCACert} {
				if _, err := runCmd(t, nil, ossl, "verify", "-purpose", "smimesign", "-CAfile", ca, ca); err != nil {
					t.Errorf("openssl verify %s: %v", ca, err)
				}
			}
		})
	}
}

func TestGenerateKeysEncrypted(t *testing.T) {
	ossl := needOpenSSL(t)
	dir := t.TempDir()
	t.Setenv("XT_TEST_PASSPHRASE", "correct horse")
	if err := GenerateKeys(context.Background(), dir, KeyOptions{Algorithm: ECDSAP256, PassphraseEnv: "XT_TEST_PASSPHRASE"}); err != nil {
		t.Fatal(err)
	}
	f := KeyPaths(dir)
	data, _ := os.ReadFile(f.DevSigningKey)
	if !bytes.Contains(data, []byte("BEGIN ENCRYPTED PRIVATE KEY")) {
		t.Fatalf("key not encrypted:\n%s", data)
	}
	if _, err := runCmd(t, nil, ossl, "pkey", "-in", f.DevSigningKey, "-noout", "-passin", "env:XT_TEST_PASSPHRASE"); err != nil {
		t.Fatalf("openssl cannot open our encrypted key: %v", err)
	}
	if _, err := runCmd(t, []string{"XT_TEST_PASSPHRASE=wrong"}, ossl, "pkey", "-in", f.DevSigningKey, "-noout", "-passin", "env:XT_TEST_PASSPHRASE"); err == nil {
		t.Fatal("openssl opened the key with a wrong passphrase")
	}
	// sign_repo.sh's command with -passin env:PASSPHRASE works with our key.
	in := dir + "/in"
	os.WriteFile(in, []byte("payload"), 0o644)
	if _, err := runCmd(t, nil, ossl, "smime", "-sign", "-binary", "-in", in, "-outform", "PEM", "-signer", f.DevSigningCert, "-inkey", f.DevSigningKey, "-passin", "env:XT_TEST_PASSPHRASE"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(f.DevSigningCert, f.DevSigningKey, ""); err == nil {
		t.Fatal("loaded an encrypted key without a passphrase")
	}
	if _, err := LoadSigner(f.DevSigningCert, f.DevSigningKey, "XT_TEST_PASSPHRASE"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XT_TEST_PASSPHRASE", "")
	if err := GenerateKeys(context.Background(), t.TempDir(), KeyOptions{PassphraseEnv: "XT_TEST_PASSPHRASE"}); err == nil {
		t.Fatal("generated keys although the passphrase variable is empty")
	}
}

func TestGenerateKeysNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	opts := KeyOptions{Algorithm: ECDSAP256}
	if err := GenerateKeys(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	f := KeyPaths(dir)
	before := map[string][]byte{}
	for _, p := range []string{f.ProdCAKey, f.DevCAKey, f.DevSigningKey, f.ProdCACert, f.DevCACert, f.DevSigningCert} {
		before[p], _ = os.ReadFile(p)
	}
	// A second run changes nothing.
	if err := GenerateKeys(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	for p, b := range before {
		if now, _ := os.ReadFile(p); !bytes.Equal(now, b) {
			t.Errorf("%s changed on a second run", p)
		}
	}
	// A missing certificate is reissued for the existing key.
	os.Remove(f.DevSigningCert)
	if err := GenerateKeys(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(f.DevSigningKey); !bytes.Equal(now, before[f.DevSigningKey]) {
		t.Error("dev signing key replaced")
	}
	key, _ := keyfile.ReadPrivateKey(f.DevSigningKey, nil)
	if c := readCert(t, f.DevSigningCert); !c.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("reissued certificate is not for the existing key")
	}
	// A certificate without its key is refused, not replaced.
	os.Remove(f.ProdCAKey)
	if err := GenerateKeys(context.Background(), dir, opts); err == nil || !strings.Contains(err.Error(), "without its key") {
		t.Fatalf("err = %v", err)
	}
	if now, _ := os.ReadFile(f.ProdCACert); !bytes.Equal(now, before[f.ProdCACert]) {
		t.Error("prod CA certificate replaced")
	}
	// A certificate that does not match its key is refused.
	other := t.TempDir()
	if err := GenerateKeys(context.Background(), other, opts); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(KeyPaths(other).DevCACert)
	os.WriteFile(f.DevCACert, data, 0o644)
	os.WriteFile(f.ProdCAKey, before[f.ProdCAKey], 0o600)
	wantErr(t, GenerateKeys(context.Background(), dir, opts), ErrKeyMismatch)
}

func TestGenerateKeysRejectsUnknownAlgorithm(t *testing.T) {
	if err := GenerateKeys(context.Background(), t.TempDir(), KeyOptions{Algorithm: "dsa"}); err == nil {
		t.Fatal("accepted dsa")
	}
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	c, err := keyfile.ReadCertificates(path)
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

func itoa(n int) string { return strconv.Itoa(n) }

func firstLine(b []byte) string { return strings.SplitN(string(b), "\n", 2)[0] }

// A key and its certificate appear together or not at all: a validity the
// certificate cannot carry used to leave the production CA key behind
// without its certificate.
func TestGenerateKeysOutOfRangeLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts KeyOptions
	}{
		{"days beyond range", KeyOptions{Algorithm: ECDSAP256, Days: 3000000}},
		{"end after year 9999", KeyOptions{Algorithm: ECDSAP256, Days: MaxDays, Now: time.Date(9990, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := GenerateKeys(context.Background(), dir, tc.opts); err == nil {
				t.Fatal("accepted")
			}
			if _, err := GenerateModuleSigningKey(context.Background(), dir, tc.opts); err == nil {
				t.Fatal("module key: accepted")
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				t.Errorf("left behind: %s", e.Name())
			}
		})
	}
}

// keys makes the kernel module signing pair bordel's `certs create modules`
// makes, under the names xenclient-oe's KERNEL_MODULE_SIG_CERT/KEY point at,
// usable by openssl the way the kernel's sign-file uses it.
func TestGenerateModuleSigningKey(t *testing.T) {
	ossl := needOpenSSL(t)
	dir := t.TempDir()
	// A passphrase for the repository keys does not encrypt this key:
	// do_sign_modules gives sign-file no PIN.
	t.Setenv("XT_TEST_PASSPHRASE", "correct horse")
	f, err := GenerateModuleSigningKey(context.Background(), dir, KeyOptions{PassphraseEnv: "XT_TEST_PASSPHRASE"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Cert != dir+"/kernel_cert.pem" || f.Key != dir+"/kernel_key.pem" {
		t.Errorf("paths %+v", f)
	}
	st, err := os.Stat(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if data, _ := os.ReadFile(f.Key); !bytes.Contains(data, []byte("BEGIN PRIVATE KEY")) {
		t.Errorf("key is not a plain PKCS#8 key:\n%s", firstLine(data))
	}
	text, err := runCmd(t, nil, ossl, "x509", "-in", f.Cert, "-noout", "-text")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Public-Key: (4096 bit)", "sha384WithRSAEncryption", "CA:FALSE", "Digital Signature", "Subject Key Identifier", "Subject: CN = " + ModuleSigningCommonName} {
		if !strings.Contains(string(text), want) {
			t.Errorf("certificate lacks %q:\n%s", want, text)
		}
	}
	if !regexpMatch(`X509v3 Basic Constraints: critical`, string(text)) {
		t.Errorf("basic constraints not critical:\n%s", text)
	}
	if d := readCert(t, f.Cert); d.NotAfter.Sub(d.NotBefore) != DefaultDays*24*time.Hour {
		t.Errorf("validity %v", d.NotAfter.Sub(d.NotBefore))
	}
	// sign-file signs with the key and the certificate's key id, sha384.
	mod := dir + "/mod.ko"
	os.WriteFile(mod, []byte("\x7fELF module"), 0o644)
	if _, err := runCmd(t, nil, ossl, "cms", "-sign", "-binary", "-noattr", "-nocerts", "-keyid", "-md", "sha384",
		"-in", mod, "-signer", f.Cert, "-inkey", f.Key, "-outform", "DER", "-out", dir+"/mod.p7s"); err != nil {
		t.Fatalf("openssl cannot sign with the pair: %v", err)
	}
	if _, err := runCmd(t, nil, ossl, "cms", "-verify", "-binary", "-inform", "DER", "-in", dir+"/mod.p7s", "-content", mod,
		"-certfile", f.Cert, "-CAfile", f.Cert, "-purpose", "any", "-out", "/dev/null"); err != nil {
		t.Fatalf("signature does not verify with the certificate: %v", err)
	}
	// Never overwritten.
	before, _ := os.ReadFile(f.Key)
	beforeCert, _ := os.ReadFile(f.Cert)
	if _, err := GenerateModuleSigningKey(context.Background(), dir, KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(f.Key)
	afterCert, _ := os.ReadFile(f.Cert)
	if !bytes.Equal(before, after) || !bytes.Equal(beforeCert, afterCert) {
		t.Error("second run replaced the module signing pair")
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
