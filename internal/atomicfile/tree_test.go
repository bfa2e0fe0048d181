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

// SwapDir trades the two trees in one step: dst never goes missing, and
// the old tree (now at src) is removed.
func TestSwapDirExchanges(t *testing.T) {
	dir := t.TempDir()
	dst, src := filepath.Join(dir, "out"), filepath.Join(dir, ".out.new-1")
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(dst, "old"), nil, 0o644)
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "new"), nil, 0o644)
	// The exchange itself, as a kill right after it would leave things.
	if err := exchange(src, dst); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "new")); err != nil {
		t.Fatal("the new tree is not at dst after the exchange")
	}
	if _, err := os.Stat(filepath.Join(src, "old")); err != nil {
		t.Fatal("the old tree is not at src after the exchange")
	}
	// A rerun cleans up what the killed one left.
	if err := RecoverDir(dst); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after RecoverDir: %v", ents)
	}
	os.MkdirAll(src, 0o755)
	if err := SwapDir(src, dst); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after SwapDir: %v", ents)
	}
}

// A two-rename swap killed between its renames leaves no dst: RecoverDir
// puts the old tree back.
func TestRecoverDirRestoresOldTree(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "out")
	old := filepath.Join(dir, ".out.new-7.old")
	os.MkdirAll(old, 0o755)
	os.WriteFile(filepath.Join(old, "v1"), []byte("1"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".out.new-7"), 0o755)
	if err := RecoverDir(dst); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dst, "v1")); err != nil || string(data) != "1" {
		t.Fatalf("old tree not restored: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("leftovers: %v", ents)
	}
}

func TestCloneTreeLinksAndSkips(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(filepath.Join(src, "raw", "deep"), 0o755)
	os.MkdirAll(filepath.Join(src, "iso"), 0o755)
	os.WriteFile(filepath.Join(src, "raw", "deep", "image"), []byte("img"), 0o640)
	os.WriteFile(filepath.Join(src, "iso", "installer.iso"), []byte("iso"), 0o644)
	os.WriteFile(filepath.Join(src, "manifest.json"), []byte("{}"), 0o644)
	os.Symlink("deep/image", filepath.Join(src, "raw", "link"))
	err := CloneTree(context.Background(), src, dst, func(rel string) bool { return rel == "iso" || rel == "manifest.json" })
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(filepath.Join(src, "raw", "deep", "image"))
	b, err := os.Stat(filepath.Join(dst, "raw", "deep", "image"))
	if err != nil || !os.SameFile(a, b) || b.Mode().Perm() != 0o640 {
		t.Errorf("image not hard-linked with its mode: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "raw", "link")); err != nil || l != "deep/image" {
		t.Errorf("symlink %q %v", l, err)
	}
	for _, skipped := range []string{"iso", "manifest.json"} {
		if _, err := os.Lstat(filepath.Join(dst, skipped)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was cloned", skipped)
		}
	}
}
