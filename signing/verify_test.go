package signing

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func verifyDev(t *testing.T, dir string, keys KeyFiles, allowDev bool) *Result {
	t.Helper()
	res, err := Verify(context.Background(), dir, VerifyOptions{ProdCAFile: keys.ProdCACert, DevCAFile: keys.DevCACert, AllowDev: allowDev})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVerifyValidRepository(t *testing.T) {
	dir, keys := devRepo(t)
	res := verifyDev(t, dir, keys, true)
	if res.ExitCode() != ExitValid || res.TrustedBy != "dev" || res.Files != 6 {
		t.Fatalf("exit %d trusted %q files %d problems %v", res.ExitCode(), res.TrustedBy, res.Files, res.Problems)
	}
	if len(res.Signers) != 1 || !strings.Contains(res.Signers[0], DevSigningCommonName) {
		t.Errorf("signers %v", res.Signers)
	}
	// Without dev allowed (the device default) the dev signature fails, and
	// only the signature: exit 1.
	res = verifyDev(t, dir, keys, false)
	if res.ExitCode() != ExitSignatureInvalid {
		t.Fatalf("exit %d, want 1: %v", res.ExitCode(), res.Problems)
	}
	if len(res.Problems) != 1 || res.Problems[0].Subject != SignatureFile {
		t.Fatalf("problems %v", res.Problems)
	}
	var b bytes.Buffer
	res.Report(&b)
	if !strings.Contains(b.String(), "signature NOT VALID") {
		t.Errorf("report:\n%s", b.String())
	}
}

// What `openssl smime -sign` (sign_repo.sh's command) makes, we accept.
func TestVerifyAcceptsOpenSSLSignedRepository(t *testing.T) {
	ossl := needOpenSSL(t)
	dir, keys := devRepo(t)
	os.Remove(filepath.Join(dir, SignatureFile))
	if _, err := runCmd(t, nil, ossl, "smime", "-sign", "-aes256", "-binary",
		"-in", filepath.Join(dir, RepositoryFile), "-out", filepath.Join(dir, SignatureFile), "-outform", "PEM",
		"-signer", keys.DevSigningCert, "-inkey", keys.DevSigningKey); err != nil {
		t.Fatal(err)
	}
	if res := verifyDev(t, dir, keys, true); res.ExitCode() != ExitValid {
		t.Fatalf("exit %d: %v", res.ExitCode(), res.Problems)
	}
	// Signed by the dev CA itself (build-scripts, bordel, twobit), too.
	if _, err := runCmd(t, nil, ossl, "smime", "-sign", "-binary",
		"-in", filepath.Join(dir, RepositoryFile), "-out", filepath.Join(dir, SignatureFile), "-outform", "PEM",
		"-signer", keys.DevCACert, "-inkey", keys.DevCAKey); err != nil {
		t.Fatal(err)
	}
	if res := verifyDev(t, dir, keys, true); res.ExitCode() != ExitValid {
		t.Fatalf("exit %d: %v", res.ExitCode(), res.Problems)
	}
}

// One flipped byte anywhere is caught and named, with the device's exit code.
func TestVerifyCatchesFlippedBytes(t *testing.T) {
	type tc struct {
		name     string
		file     string
		off      int64
		wantExit int
		wantIn   string
	}
	cases := []tc{
		{"XC-PACKAGES", PackagesFile, 10, ExitMetadataInvalid, "XC-PACKAGES checksum NOT VALID"},
		{"XC-REPOSITORY packages line", RepositoryFile, 130, ExitMetadataInvalid, "XC-PACKAGES checksum NOT VALID"},
		{"XC-REPOSITORY build line", RepositoryFile, 50, ExitSignatureInvalid, "signature NOT VALID"},
		{"XC-REPOSITORY padding", RepositoryFile, RepositorySize - 1, ExitSignatureInvalid, "signature NOT VALID"},
		{"XC-SIGNATURE", SignatureFile, 1500, ExitSignatureInvalid, "XC-SIGNATURE"},
	}
	for _, c := range DefaultManifest() {
		cases = append(cases, tc{"payload " + c.Name, c.File, 4095, ExitMetadataInvalid, c.Name + " (" + c.File + "): hash mismatch"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, keys := devRepo(t)
			flipByte(t, filepath.Join(dir, c.file), c.off)
			res := verifyDev(t, dir, keys, true)
			if res.ExitCode() != c.wantExit {
				t.Fatalf("exit %d, want %d: %v", res.ExitCode(), c.wantExit, res.Problems)
			}
			var all []string
			for _, p := range res.Problems {
				all = append(all, p.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), c.wantIn) {
				t.Fatalf("problems %q do not name %q", all, c.wantIn)
			}
			// The device's openssl check agrees about the signature.
			devOK := deviceVerify(t, dir, keys.DevCACert) == nil
			if sigBad := hasKind(res, SignatureProblem); sigBad == devOK {
				t.Fatalf("signature verdict differs from openssl: ours bad=%v, openssl ok=%v", sigBad, devOK)
			}
		})
	}
}

func hasKind(r *Result, k ProblemKind) bool {
	for _, p := range r.Problems {
		if p.Kind == k {
			return true
		}
	}
	return false
}

func TestVerifyNamesEveryMismatch(t *testing.T) {
	dir, keys := devRepo(t)
	flipByte(t, filepath.Join(dir, "dom0-rootfs.ext3.gz"), 0)
	os.Truncate(filepath.Join(dir, "uivm-rootfs.ext3.vhd.gz"), 100)
	os.Remove(filepath.Join(dir, "xc-tools.iso"))
	res := verifyDev(t, dir, keys, false)
	if res.ExitCode() != ExitMetadataInvalid {
		t.Fatalf("exit %d", res.ExitCode())
	}
	var b bytes.Buffer
	res.Report(&b)
	for _, want := range []string{
		"dom0 (dom0-rootfs.ext3.gz): hash mismatch",
		"uivm (uivm-rootfs.ext3.vhd.gz): file size mismatch: 100 bytes",
		"file (xc-tools.iso): file missing",
		"signature: XC-SIGNATURE",
		"repository metadata NOT VALID",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestVerifyRefusesUnsafeFileNames(t *testing.T) {
	dir, keys := devRepo(t)
	// A hostile XC-PACKAGES (its digest updated so it passes the first check)
	// must not make us read outside the repository.
	pk := "evil 4 0000000000000000000000000000000000000000000000000000000000000000 raw required ../../etc/passwd /\n"
	os.WriteFile(filepath.Join(dir, PackagesFile), []byte(pk), 0o644)
	res := verifyDev(t, dir, keys, true)
	found := false
	for _, p := range res.Problems {
		found = found || strings.Contains(p.Detail, "unsafe file name")
	}
	if !found || res.ExitCode() != ExitMetadataInvalid {
		t.Fatalf("exit %d problems %v", res.ExitCode(), res.Problems)
	}
}

func TestVerifyOptionErrors(t *testing.T) {
	dir, keys := devRepo(t)
	if _, err := Verify(context.Background(), dir, VerifyOptions{}); err == nil {
		t.Error("no prod CA accepted")
	}
	if _, err := Verify(context.Background(), dir, VerifyOptions{ProdCAFile: keys.ProdCACert, AllowDev: true}); err == nil {
		t.Error("AllowDev without a dev CA accepted")
	}
	if _, err := Verify(context.Background(), dir, VerifyOptions{ProdCAFile: filepath.Join(dir, "nope.pem")}); err == nil {
		t.Error("missing CA file accepted")
	}
}
