package signing

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func prodSigner(t *testing.T, keys KeyFiles) *Signer {
	t.Helper()
	s, err := LoadSigner(keys.ProdCACert, keys.ProdCAKey, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResignRelease(t *testing.T) {
	dir, keys := devRepo(t)
	before, _ := os.ReadFile(filepath.Join(dir, RepositoryFile))
	err := ResignRelease(context.Background(), dir, ResignOptions{Signer: prodSigner(t, keys), ProdCAFile: keys.ProdCACert, DevCAFile: keys.DevCACert})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, RepositoryFile))
	if !bytes.Equal(before, after) {
		t.Fatal("XC-REPOSITORY changed")
	}
	// A device without -d now accepts it.
	res := verifyDev(t, dir, keys, false)
	if res.ExitCode() != ExitValid || res.TrustedBy != "prod" {
		t.Fatalf("exit %d trusted %q %v", res.ExitCode(), res.TrustedBy, res.Problems)
	}
	if err := deviceVerify(t, dir, keys.ProdCACert); err != nil {
		t.Fatalf("device rejects the release signature: %v", err)
	}
	// Re-signing a release-signed repository again is allowed.
	if err := ResignRelease(context.Background(), dir, ResignOptions{Signer: prodSigner(t, keys), ProdCAFile: keys.ProdCACert, DevCAFile: keys.DevCACert}); err != nil {
		t.Fatal(err)
	}
}

func TestResignReleaseRefusals(t *testing.T) {
	keys := sharedKeys(t)
	prod := prodSigner(t, keys)
	dev, _ := LoadSigner(keys.DevSigningCert, keys.DevSigningKey, "")
	devCA, _ := LoadSigner(keys.DevCACert, keys.DevCAKey, "")

	// Certificates outside their validity window.
	expiredDir, futureDir, otherDir := t.TempDir(), t.TempDir(), t.TempDir()
	if err := GenerateKeys(context.Background(), expiredDir, KeyOptions{Algorithm: ECDSAP256, Now: time.Now().AddDate(-3, 0, 0), Days: 30}); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeys(context.Background(), futureDir, KeyOptions{Algorithm: ECDSAP256, Now: time.Now().AddDate(0, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeys(context.Background(), otherDir, KeyOptions{Algorithm: ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	load := func(d string) (*Signer, string) {
		k := KeyPaths(d)
		s, err := LoadSigner(k.ProdCACert, k.ProdCAKey, "")
		if err != nil {
			t.Fatal(err)
		}
		return s, k.ProdCACert
	}
	expired, expiredCA := load(expiredDir)
	future, futureCA := load(futureDir)
	other, _ := load(otherDir)
	mismatched := &Signer{Cert: prod.Cert, Key: dev.Key}

	for _, tc := range []struct {
		name   string
		signer *Signer
		prodCA string
		devCA  string
		tamper func(dir string)
		want   error
	}{
		{"dev signing key", dev, keys.ProdCACert, keys.DevCACert, nil, ErrDevKey},
		{"dev CA key", devCA, keys.ProdCACert, keys.DevCACert, nil, ErrDevKey},
		{"prod CA file is the dev CA", dev, keys.DevCACert, keys.DevCACert, nil, ErrDevKey},
		{"key does not match certificate", mismatched, keys.ProdCACert, keys.DevCACert, nil, ErrKeyMismatch},
		{"expired certificate", expired, expiredCA, keys.DevCACert, nil, ErrCertExpired},
		{"not yet valid certificate", future, futureCA, keys.DevCACert, nil, ErrCertNotYetValid},
		{"signer outside the prod CA", other, keys.ProdCACert, keys.DevCACert, nil, ErrNotProdSigner},
		{"payload changed", prod, keys.ProdCACert, keys.DevCACert, func(d string) { flipByte(t, filepath.Join(d, "dom0-rootfs.ext3.gz"), 7) }, ErrRepositoryMismatch},
		{"payload removed", prod, keys.ProdCACert, keys.DevCACert, func(d string) { os.Remove(filepath.Join(d, "control.tar.bz2")) }, ErrRepositoryMismatch},
		{"XC-PACKAGES changed", prod, keys.ProdCACert, keys.DevCACert, func(d string) { flipByte(t, filepath.Join(d, PackagesFile), 3) }, ErrRepositoryMismatch},
		{"XC-REPOSITORY changed after signing", prod, keys.ProdCACert, keys.DevCACert, func(d string) { flipByte(t, filepath.Join(d, RepositoryFile), 40) }, ErrRepositorySigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := devRepo(t)
			if tc.tamper != nil {
				tc.tamper(dir)
			}
			sig, _ := os.ReadFile(filepath.Join(dir, SignatureFile))
			err := ResignRelease(context.Background(), dir, ResignOptions{Signer: tc.signer, ProdCAFile: tc.prodCA, DevCAFile: tc.devCA})
			wantErr(t, err, tc.want)
			if now, _ := os.ReadFile(filepath.Join(dir, SignatureFile)); !bytes.Equal(now, sig) {
				t.Fatal("signature replaced despite the refusal")
			}
		})
	}
}

func TestLoadSignerRefusesMismatchedKey(t *testing.T) {
	keys := sharedKeys(t)
	_, err := LoadSigner(keys.ProdCACert, keys.DevCAKey, "")
	wantErr(t, err, ErrKeyMismatch)
}
