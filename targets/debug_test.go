package targets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// XTBUILD_DEBUG=1 reaches every package through the one logger Load makes:
// signing, upload and mirror print their debug lines (ship's are checked
// in ship's own tests through the same ShipInput.Log), and without it they
// stay quiet.
func TestDebugReachesEveryPackage(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runBin(t, dir, nil, "keys"); code != 0 {
		t.Fatalf("keys: %d\n%s", code, errOut)
	}
	out := filepath.Join(dir, "build-output", "openxt-dev--master")
	for _, f := range []string{"control.tar.bz2", "dom0-rootfs.ext3.gz", "uivm-rootfs.ext3.vhd.gz", "ndvm-rootfs.ext3.disk.vhd.gz", "syncvm-rootfs.ext3.vhd.gz", "usbvm.vhd.gz"} {
		os.MkdirAll(filepath.Join(out, "raw"), 0o755)
		os.WriteFile(filepath.Join(out, "raw", f), []byte(strings.Repeat(f, 100)), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "build", "downloads"), 0o755)
	os.WriteFile(filepath.Join(dir, "build", "downloads", "busybox-1.36.1.tar.bz2"), []byte("source"), 0o644)
	os.WriteFile(filepath.Join(dir, "build", "downloads", "busybox-1.36.1.tar.bz2.done"), nil, 0o644)
	dest := "XTBUILD_UPLOAD_DESTINATION=file://" + filepath.Join(dir, "srv")
	for _, tc := range []struct {
		target string
		env    []string
		debug  string // a debug message the target's package logs
	}{
		{"sign", nil, `msg="repository component"`},
		{"upload", []string{dest}, `msg=upload `},
		{"mirror:populate", nil, `msg=populate `},
	} {
		_, quiet, code := runBin(t, dir, tc.env, tc.target)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", tc.target, code, quiet)
		}
		if strings.Contains(quiet, "level=DEBUG") {
			t.Errorf("%s without XTBUILD_DEBUG printed debug lines:\n%s", tc.target, quiet)
		}
		_, loud, code := runBin(t, dir, append(tc.env, "XTBUILD_DEBUG=1", "XTBUILD_FORCE=1"), tc.target)
		if code != 0 {
			t.Fatalf("%s (debug): exit %d\n%s", tc.target, code, loud)
		}
		if !strings.Contains(loud, "level=DEBUG") || !strings.Contains(loud, tc.debug) {
			t.Errorf("%s with XTBUILD_DEBUG=1 lacks the debug line %s:\n%s", tc.target, tc.debug, loud)
		}
	}
}
