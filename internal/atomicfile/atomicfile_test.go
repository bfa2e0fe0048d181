package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteIsAtomicAndExplicitMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v under umask 077", st.Mode())
	}
	// A failing writer leaves the old content and no temp file.
	err := WriteStream(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if data, _ := os.ReadFile(p); string(data) != "one" {
		t.Errorf("content %q", data)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	if changed, _ := WriteIfChanged(p, []byte("one"), 0o644); changed {
		t.Error("unchanged content rewritten")
	}
}

func TestWriteNewNeverOverwrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := WriteNew(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	err := WriteNew(p, []byte("other"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("error %v", err)
	}
	if data, _ := os.ReadFile(p); string(data) != "secret" {
		t.Errorf("overwritten: %q", data)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

// CommitAs names the file once its content is known, in the same
// directory only.
func TestCommitAs(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "incoming"), 0o444)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("pack"))
	if err := f.CommitAs(filepath.Join(dir, "pack-1234")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "pack-1234")); string(data) != "pack" {
		t.Errorf("content %q", data)
	}
	if st, _ := os.Stat(filepath.Join(dir, "pack-1234")); st.Mode().Perm() != 0o444 {
		t.Errorf("mode %v", st.Mode())
	}
	g, _ := Create(filepath.Join(dir, "incoming"), 0o444)
	if err := g.CommitAs(filepath.Join(t.TempDir(), "elsewhere")); err == nil {
		t.Error("a name in another directory was accepted")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

// RemoveTemps removes what pending writes left (as a killed process
// leaves them) and nothing else: committed files, other dot files, and
// git's own temporary packs stay.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"pack-1.pack", ".keep", "tmp_pack_abc"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644)
	}
	for _, name := range []string{"a", "pack-2.idx"} {
		f, err := Create(filepath.Join(dir, name), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("partial"))
		f.File.Close() // killed: neither Commit nor Abort
	}
	RemoveTemps(dir)
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if got := strings.Join(left, " "); got != ".keep pack-1.pack tmp_pack_abc" {
		t.Errorf("left %q", got)
	}
}
