package targets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUploadToDirectory(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "build-output", "openxt-dev--master")
	os.MkdirAll(filepath.Join(out, "iso"), 0o755)
	os.WriteFile(filepath.Join(out, "iso", "installer.iso"), []byte(strings.Repeat("iso", 1000)), 0o600)
	os.WriteFile(filepath.Join(out, "manifest.json"), []byte("{}\n"), 0o600)
	dest := filepath.Join(dir, "srv")
	if _, errOut, code := runBin(t, dir, nil, "upload"); code != 2 || !strings.Contains(errOut, "upload.destination") {
		t.Errorf("no destination: %d %s", code, errOut)
	}
	outText, errOut, code := runBin(t, dir, []string{"XTBUILD_UPLOAD_DESTINATION=file://" + dest}, "upload")
	if code != 0 {
		t.Fatalf("upload: %d\n%s%s", code, outText, errOut)
	}
	st, err := os.Stat(filepath.Join(dest, "master", "openxt-dev--master", "iso", "installer.iso"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("published ISO: %v %v", err, st)
	}
	if _, err := os.Lstat(filepath.Join(dest, "master", "latest")); err != nil {
		t.Errorf("no latest pointer: %v", err)
	}
}
