package keyfile

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

func needOpenSSL(t *testing.T) string {
	t.Helper()
	return testenv.LookPath(t, "openssl", "openssl")
}

func openssl(t *testing.T, args ...string) error {
	t.Helper()
	out, err := exec.Command(needOpenSSL(t), args...).CombinedOutput()
	if err != nil {
		return errors.New(err.Error() + ": " + string(out))
	}
	return nil
}

// Keys openssl writes in its various forms open with our reader.
func TestReadOpenSSLKeys(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("s3cret pass")
	for _, tc := range []struct {
		name string
		args []string
		enc  bool
	}{
		{"genrsa (PKCS#8)", []string{"genrsa", "-out", "K", "2048"}, false},
		{"genrsa -aes256 (PBES2)", []string{"genrsa", "-aes256", "-passout", "pass:s3cret pass", "-out", "K", "2048"}, true},
		{"genrsa -traditional -aes256 (Proc-Type)", []string{"genrsa", "-traditional", "-aes256", "-passout", "pass:s3cret pass", "-out", "K", "2048"}, true},
		{"genpkey EC -des3", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-des3", "-pass", "pass:s3cret pass", "-out", "K"}, true},
		{"ecparam -genkey (SEC1)", []string{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "K"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := filepath.Join(dir, filepath.Base(t.Name()))
			args := append([]string(nil), tc.args...)
			for i := range args {
				if args[i] == "K" {
					args[i] = k
				}
			}
			if err := openssl(t, args...); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadPrivateKey(k, pass); err != nil {
				t.Fatalf("read: %v", err)
			}
			if tc.enc {
				if _, err := ReadPrivateKey(k, nil); !errors.Is(err, ErrPassphrase) {
					t.Fatalf("no passphrase: err = %v", err)
				}
				if _, err := ReadPrivateKey(k, []byte("wrong")); err == nil {
					t.Fatal("opened with a wrong passphrase")
				}
			}
		})
	}
}

// What we write, openssl reads (plain and encrypted) and round-trips.
func TestMarshalPEMOpenSSLReads(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	for _, pass := range []string{"", "pässwörd"} {
		data, err := MarshalPEM(key, []byte(pass))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "k.pem")
		os.WriteFile(p, data, 0o600)
		args := []string{"pkey", "-in", p, "-noout"}
		if pass != "" {
			args = append(args, "-passin", "pass:"+pass)
		}
		if err := openssl(t, args...); err != nil {
			t.Fatalf("pass %q: %v", pass, err)
		}
		back, err := ParsePEM(data, []byte(pass))
		if err != nil {
			t.Fatal(err)
		}
		if !back.(*ecdsa.PrivateKey).Equal(key) {
			t.Fatal("round trip changed the key")
		}
	}
	// Encrypting twice gives different ciphertexts (fresh salt and IV).
	a, _ := MarshalPEM(key, []byte("x"))
	b, _ := MarshalPEM(key, []byte("x"))
	if bytes.Equal(a, b) {
		t.Fatal("salt/IV reused")
	}
}

func FuzzParsePEM(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc, _ := MarshalPEM(key, []byte("x"))
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParsePEM(b, []byte("x")) // must not panic
	})
}
