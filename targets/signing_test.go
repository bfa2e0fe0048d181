package targets

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// keys → sign → verify through the compiled targets, checked with openssl.
func TestKeysSignVerify(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runBin(t, dir, nil, "keys"); code != 0 {
		t.Fatalf("keys: %d\n%s", code, errOut)
	}
	for _, k := range []string{"prod-cakey.pem", "dev-cakey.pem", "dev-signing-key.pem"} {
		st, err := os.Stat(filepath.Join(dir, "certs", k))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", k, err, st.Mode())
		}
	}
	// A second run keeps every existing key.
	before, _ := os.ReadFile(filepath.Join(dir, "certs", "dev-signing-key.pem"))
	if _, errOut, code := runBin(t, dir, nil, "keys"); code != 0 {
		t.Errorf("second keys run: %d %s", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "certs", "dev-signing-key.pem")); string(after) != string(before) {
		t.Error("keys overwrote an existing key")
	}
	raw := filepath.Join(dir, "build-output", "openxt-dev--master", "raw")
	os.MkdirAll(raw, 0o755)
	// Every image of the profile's [[repository]] (bordel's images-manifest) is required.
	for _, f := range []string{"control.tar.bz2", "dom0-rootfs.ext3.gz", "uivm-rootfs.ext3.vhd.gz", "ndvm-rootfs.ext3.disk.vhd.gz", "syncvm-rootfs.ext3.vhd.gz", "usbvm.vhd.gz"} {
		os.WriteFile(filepath.Join(raw, f), []byte(strings.Repeat(f, 1000)), 0o644)
	}
	if out, errOut, code := runBin(t, dir, nil, "sign"); code != 0 {
		t.Fatalf("sign: %d\n%s%s", code, out, errOut)
	}
	pkg := filepath.Join(dir, "build-output", "openxt-dev--master", "repository", "packages.main")
	cmd := exec.Command("openssl", "smime", "-verify", "-in", "XC-SIGNATURE", "-inform", "PEM", "-content", "XC-REPOSITORY",
		"-CAfile", filepath.Join(dir, "certs", "dev-cacert.pem"), "-out", os.DevNull)
	cmd.Dir = pkg
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl rejects our signature: %v\n%s", err, out)
	}
	if _, _, code := runBin(t, dir, []string{"XTBUILD_DEV=1"}, "verify"); code != 0 {
		t.Errorf("verify (dev allowed) = %d", code)
	}
	if _, _, code := runBin(t, dir, nil, "verify"); code != 1 {
		t.Errorf("verify of a dev-signed repository against the prod CA = %d, want 1", code)
	}
	f := filepath.Join(pkg, "dom0-rootfs.ext3.gz")
	data, _ := os.ReadFile(f)
	data[10] ^= 1
	os.WriteFile(f, data, 0o644)
	if out, _, code := runBin(t, dir, []string{"XTBUILD_DEV=1"}, "verify"); code != 2 || !strings.Contains(out, "dom0-rootfs.ext3.gz") {
		t.Errorf("verify after a flipped byte = %d\n%s", code, out)
	}
}

// The development signing path refuses the production CA's files: before,
// plain `sign` succeeded with them and `verify` without XTBUILD_DEV then
// accepted the "development" build as a release.
func TestSignRefusesProductionKeyOnDevPath(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runBin(t, dir, nil, "keys"); code != 0 {
		t.Fatalf("keys: %d\n%s", code, errOut)
	}
	for _, k := range []string{"kernel_key.pem", "kernel_cert.pem"} {
		st, err := os.Stat(filepath.Join(dir, "certs", k))
		if err != nil {
			t.Fatalf("keys made no %s: %v", k, err)
		}
		if k == "kernel_key.pem" && st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", k, st.Mode().Perm())
		}
	}
	os.WriteFile(filepath.Join(dir, "xtbuild.toml"), []byte("[signing]\ndev_signing_cert = \"certs/prod-cacert.pem\"\ndev_signing_key = \"certs/prod-cakey.pem\"\n"), 0o644)
	raw := filepath.Join(dir, "build-output", "openxt-dev--master", "raw")
	os.MkdirAll(raw, 0o755)
	for _, f := range []string{"control.tar.bz2", "dom0-rootfs.ext3.gz", "uivm-rootfs.ext3.vhd.gz", "ndvm-rootfs.ext3.disk.vhd.gz"} {
		os.WriteFile(filepath.Join(raw, f), []byte(strings.Repeat(f, 100)), 0o644)
	}
	out, errOut, code := runBin(t, dir, nil, "sign")
	if code == 0 || !strings.Contains(errOut, "production key used for a development signature") {
		t.Fatalf("sign with the production key on the dev path: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "build-output", "openxt-dev--master", "repository", "packages.main", "XC-SIGNATURE")); err == nil {
		t.Error("a signature was written")
	}
	if _, _, code := runBin(t, dir, nil, "verify"); code == 0 {
		t.Error("verify without XTBUILD_DEV accepted the repository")
	}
}
