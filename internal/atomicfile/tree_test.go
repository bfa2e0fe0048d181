package atomicfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLinkOrCopyResolvesSymlinksAndReplaces(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "image-20261205.ext3")
	os.WriteFile(real, []byte("rootfs"), 0o644)
	link := filepath.Join(dir, "image.ext3")
	os.Symlink(filepath.Base(real), link)
	dst := filepath.Join(dir, "out", "dom0.ext3")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	os.WriteFile(dst, []byte("old"), 0o644)
	if err := LinkOrCopy(link, dst, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(dst)
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("dst %v %v", st, err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "rootfs" {
		t.Errorf("dst holds %q", got)
	}
}

func TestCopyNewRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(src, []byte("data"), 0o644)
	if err := CopyNew(context.Background(), src, dst, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if err := CopyNew(context.Background(), src, dst, 0o600); err == nil {
		t.Error("CopyNew replaced an existing file")
	}
}

func TestReplaceDirKeepsOldTreeOnFailure(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "repo")
	if err := ReplaceDir(dst, func(tmp string) error { return os.WriteFile(filepath.Join(tmp, "v1"), nil, 0o644) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := ReplaceDir(dst, func(tmp string) error {
		os.WriteFile(filepath.Join(tmp, "v2"), nil, 0o644)
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "v1")); err != nil {
		t.Error("failed replace lost the old tree")
	}
	if err := ReplaceDir(dst, func(tmp string) error { return os.WriteFile(filepath.Join(tmp, "v2"), nil, 0o644) }); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dst)
	if len(entries) != 1 || entries[0].Name() != "v2" {
		t.Errorf("after replace: %v", entries)
	}
	siblings, _ := os.ReadDir(filepath.Dir(dst))
	if len(siblings) != 1 {
		t.Errorf("leftovers beside dst: %v", siblings)
	}
}
