package signing

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/signing/keyfile"
)

// childOf issues an ECDSA signing certificate from the CA in caCert/caKey
// and writes it with its key into dir.
func childOf(t *testing.T, dir, name, caCert, caKey string, now time.Time, days int) (certFile, keyFile string) {
	t.Helper()
	ca := readCert(t, caCert)
	caPriv, err := keyfile.ReadPrivateKey(caKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := newKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	g := keyGen{opts: KeyOptions{Days: days, Now: now, Subject: defaultSubject()}}
	cert, err := g.issue(name, key, ca, caPriv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := keyfile.MarshalPEM(key, nil)
	certFile, keyFile = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(certFile, keyfile.CertificatePEM(cert), 0o644)
	os.WriteFile(keyFile, pemKey, 0o600)
	return certFile, keyFile
}

// The development path refuses anything of the production CA's: its own
// key, a certificate it issued (valid or expired), and a configuration
// where the development CA is the production CA.
func TestLoadDevSignerRefusesProduction(t *testing.T) {
	keys := sharedKeys(t)
	dir := t.TempDir()
	prodChildCert, prodChildKey := childOf(t, dir, "prod-child", keys.ProdCACert, keys.ProdCAKey, time.Now(), 30)
	oldCert, oldKey := childOf(t, dir, "prod-child-expired", keys.ProdCACert, keys.ProdCAKey, time.Now().AddDate(-2, 0, 0), 30)
	for _, tc := range []struct {
		name             string
		cert, key, devCA string
		want             error
	}{
		{"dev signer pointed at the prod CA files", keys.ProdCACert, keys.ProdCAKey, keys.DevCACert, ErrProdKey},
		{"certificate issued by the prod CA", prodChildCert, prodChildKey, keys.DevCACert, ErrProdKey},
		{"expired certificate issued by the prod CA", oldCert, oldKey, keys.DevCACert, ErrProdKey},
		{"dev CA is the prod CA", keys.DevSigningCert, keys.DevSigningKey, keys.ProdCACert, ErrSameCA},
		{"the dev signing certificate", keys.DevSigningCert, keys.DevSigningKey, keys.DevCACert, nil},
		{"the dev CA itself", keys.DevCACert, keys.DevCAKey, keys.DevCACert, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadDevSigner(tc.cert, tc.key, "", keys.ProdCACert, tc.devCA)
			wantErr(t, err, tc.want)
		})
	}
}

// With one key for both CAs, verify (with or without dev signatures)
// refuses to judge instead of accepting a dev signature as a release.
func TestVerifyRefusesOneKeyForBothCAs(t *testing.T) {
	dir, keys := devRepo(t)
	for _, allowDev := range []bool{false, true} {
		_, err := Verify(context.Background(), dir, VerifyOptions{ProdCAFile: keys.DevCACert, DevCAFile: keys.DevCACert, AllowDev: allowDev})
		wantErr(t, err, ErrSameCA)
	}
	// Distinct CAs: a dev-signed repository is refused without AllowDev.
	res, err := Verify(context.Background(), dir, VerifyOptions{ProdCAFile: keys.ProdCACert, DevCAFile: keys.DevCACert})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode() != ExitSignatureInvalid {
		t.Errorf("dev-signed repository without AllowDev: exit %d, want %d", res.ExitCode(), ExitSignatureInvalid)
	}
}

// A release signer issued by the development CA is refused even when the
// development CA has expired (the chain no longer verifies by date).
func TestResignRefusesChildOfExpiredDevCA(t *testing.T) {
	keys := sharedKeys(t)
	work := t.TempDir()
	old := filepath.Join(work, "old")
	if err := GenerateKeys(context.Background(), old, KeyOptions{Algorithm: ECDSAP256, Now: time.Now().AddDate(-3, 0, 0), Days: 30}); err != nil {
		t.Fatal(err)
	}
	ok := KeyPaths(old)
	// A signer whose certificate claims the production CA's subject but was
	// issued by the (expired) development CA.
	certFile, keyFile := childOf(t, work, "dev-child", ok.DevCACert, ok.DevCAKey, time.Now().AddDate(-3, 0, 1), 3000)
	s, err := LoadSigner(certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := devRepo(t)
	err = ResignRelease(context.Background(), dir, ResignOptions{Signer: s, ProdCAFile: keys.ProdCACert, DevCAFile: ok.DevCACert})
	wantErr(t, err, ErrDevKey)
}
