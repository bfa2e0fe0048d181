package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// dlFile is one entry of a synthetic DL_DIR.
type dlFile struct {
	name string
	data []byte
	done bool // write the BitBake .done stamp
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func content(name string, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "%s:%d\n", name, b.Len())
	}
	return b.Bytes()[:n]
}

func writeDL(t *testing.T, dl string, files []dlFile) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dl, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if f.done {
			if err := os.WriteFile(p+".done", nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// typicalDL builds a DL_DIR shaped like BitBake's: stamped tarballs, a git
// mirror tarball, a bare clone under git2/, a download in progress, locks,
// a subdirectory download and a symlink into a file:// premirror.
func typicalDL(t *testing.T) (dl string, want map[string][]byte, src map[string]string) {
	t.Helper()
	base := t.TempDir()
	dl = filepath.Join(base, "downloads")
	files := []dlFile{
		{"zlib-1.3.1.tar.xz", content("zlib", 70000), true},
		{"busybox-1.36.1.tar.bz2", content("busybox", 3<<20+17), true},
		{"git2_github.com.OpenXT.xenclient-oe.git.tar.gz", content("git2", 123457), true},
		{"uninative/5fab9a5c/x86_64-nativesdk-libc-4.6.tar.xz", content("uninative", 4096), true},
		{"empty-file.txt", nil, true},
		{"xen-4.18.0.tar.gz", content("xen-partial", 1000), false}, // still downloading
		{"xen-4.18.0.tar.gz.lock", nil, false},
		{"git2/github.com.OpenXT.xenclient-oe.git/HEAD", []byte("ref: refs/heads/master\n"), false},
		{"git2/github.com.OpenXT.xenclient-oe.git/objects/pack/p.pack", content("pack", 1000), false},
		{".hidden-download", content("hidden", 10), true},
		// Same base name as the uninative above: a flat mirror holds one.
		{"uninative/aaaa/x86_64-nativesdk-libc-4.6.tar.xz", content("other", 100), true},
	}
	writeDL(t, dl, files)
	// BitBake stamps the clone directory itself.
	if err := os.WriteFile(filepath.Join(dl, "git2", "github.com.OpenXT.xenclient-oe.git.done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A download BitBake found in a file:// premirror is a symlink.
	pre := filepath.Join(base, "premirror")
	writeDL(t, pre, []dlFile{{"ltrace-0.7.3.tar.bz2", content("ltrace", 5000), false}})
	if err := os.Symlink(filepath.Join(pre, "ltrace-0.7.3.tar.bz2"), filepath.Join(dl, "ltrace-0.7.3.tar.bz2")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dl, "ltrace-0.7.3.tar.bz2.done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want = map[string][]byte{}
	src = map[string]string{}
	for _, f := range files[:5] {
		want[path.Base(f.name)] = f.data
		src[path.Base(f.name)] = filepath.Join(dl, f.name)
	}
	want["ltrace-0.7.3.tar.bz2"] = content("ltrace", 5000)
	src["ltrace-0.7.3.tar.bz2"] = filepath.Join(dl, "ltrace-0.7.3.tar.bz2")
	return dl, want, src
}

func TestPopulateVerifyRoundTrip(t *testing.T) {
	for _, copyMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%v", copyMode), func(t *testing.T) {
			ctx := context.Background()
			dl, want, srcs := typicalDL(t)
			mir := filepath.Join(t.TempDir(), "mirror")
			st, err := Populate(ctx, dl, mir, Options{Copy: copyMode})
			if err != nil {
				t.Fatal(err)
			}
			if st.Added != len(want) || st.Unchanged != 0 || st.Replaced != 0 {
				t.Fatalf("stats %+v, want %d added", st, len(want))
			}
			if copyMode && st.Copied != len(want) || !copyMode && st.Linked != len(want) {
				t.Errorf("stats %+v: wrong link/copy counts", st)
			}
			idx, err := ReadIndex(mir)
			if err != nil {
				t.Fatal(err)
			}
			if len(idx) != len(want) {
				t.Errorf("index has %v, want %d entries", idx.Names(), len(want))
			}
			for name, data := range want {
				got, err := os.ReadFile(filepath.Join(mir, name))
				if err != nil {
					t.Fatalf("%s not mirrored: %v", name, err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("%s: mirrored content differs", name)
				}
				if idx[name] != sum(data) {
					t.Errorf("%s: index %s, want %s", name, idx[name], sum(data))
				}
				src, _ := os.Stat(srcs[name])
				dst, _ := os.Stat(filepath.Join(mir, name))
				if !dst.ModTime().Equal(src.ModTime()) {
					t.Errorf("%s: mtime %v, source %v", name, dst.ModTime(), src.ModTime())
				}
				if same := os.SameFile(src, dst); same == copyMode {
					t.Errorf("%s: same inode %v with copy=%v", name, same, copyMode)
				}
			}
			if len(st.Skipped) != 1 || !strings.Contains(st.Skipped[0], "uninative/aaaa/x86_64-nativesdk-libc-4.6.tar.xz: a mirror holds one file named x86_64-nativesdk-libc-4.6.tar.xz, taken from uninative/5fab9a5c/") {
				t.Errorf("skipped %q", st.Skipped)
			}
			for _, absent := range []string{"xen-4.18.0.tar.gz", "xen-4.18.0.tar.gz.lock", "git2", ".hidden-download", "zlib-1.3.1.tar.xz.done", "uninative"} {
				if _, err := os.Lstat(filepath.Join(mir, absent)); err == nil {
					t.Errorf("%s should not be in the mirror", absent)
				}
			}
			rep, err := Verify(ctx, mir)
			if err != nil {
				t.Fatalf("verify: %v (%v)", err, rep.Problems)
			}
			var total int64
			for _, d := range want {
				total += int64(len(d))
			}
			if rep.Files != len(want) || rep.Bytes != total {
				t.Errorf("verify checked %d files / %d bytes, want %d / %d", rep.Files, rep.Bytes, len(want), total)
			}
			// The index is what GNU sha256sum checks, on any host.
			cmd := exec.Command("sha256sum", "--strict", "-c", IndexName)
			cmd.Dir = mir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sha256sum -c: %v\n%s", err, out)
			}

			// Nothing changed: nothing copied or hashed.
			st, err = Populate(ctx, dl, mir, Options{Copy: copyMode})
			if err != nil {
				t.Fatal(err)
			}
			if st.Unchanged != len(want) || st.Added+st.Replaced != 0 || st.Bytes != 0 {
				t.Errorf("second run %+v, want all unchanged", st)
			}
		})
	}
}

func TestPopulateIncremental(t *testing.T) {
	ctx := context.Background()
	dl, want, _ := typicalDL(t)
	mir := t.TempDir()
	if _, err := Populate(ctx, dl, mir, Options{Copy: true}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	// Touched, same bytes: hashed, not copied; the mirror takes the mtime.
	touched := filepath.Join(dl, "zlib-1.3.1.tar.xz")
	if err := os.Chtimes(touched, later, later); err != nil {
		t.Fatal(err)
	}
	// Re-fetched with other bytes: replaced.
	changed := []byte("a new busybox tarball")
	writeDL(t, dl, []dlFile{
		{"busybox-1.36.1.tar.bz2", changed, true},
		{"xen-4.18.0.tar.gz", content("xen", 2000), true}, // download finished
	})
	var seen []string
	st, err := Populate(ctx, dl, mir, Options{Copy: true, OnFile: func(n string, a Action) {
		if a != Unchanged {
			seen = append(seen, string(a)+" "+n)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 1 || st.Replaced != 1 || st.Unchanged != len(want)-1 {
		t.Errorf("stats %+v", st)
	}
	if st.Bytes != int64(len(changed)+2000) {
		t.Errorf("copied %d bytes, want %d", st.Bytes, len(changed)+2000)
	}
	if got := strings.Join(seen, ","); got != "replaced busybox-1.36.1.tar.bz2,added xen-4.18.0.tar.gz" &&
		got != "added xen-4.18.0.tar.gz,replaced busybox-1.36.1.tar.bz2" {
		t.Errorf("actions %q", got)
	}
	fi, _ := os.Stat(filepath.Join(mir, "zlib-1.3.1.tar.xz"))
	if !fi.ModTime().Equal(later) {
		t.Errorf("touched file: mirror mtime %v, want %v", fi.ModTime(), later)
	}
	if rep, err := Verify(ctx, mir); err != nil {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
	// A file that vanished from DL_DIR stays in the mirror.
	os.Remove(filepath.Join(dl, "empty-file.txt"))
	os.Remove(filepath.Join(dl, "empty-file.txt.done"))
	if _, err := Populate(ctx, dl, mir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mir, "empty-file.txt")); err != nil {
		t.Errorf("mirror lost a file DL_DIR dropped: %v", err)
	}
}

func TestVerifyDetectsProblems(t *testing.T) {
	ctx := context.Background()
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, content("zlib", 70000), 0o644) // same bytes: still refused
	cases := []struct {
		name   string
		damage func(t *testing.T, mir string)
		want   []string // "kind: name"
	}{
		{"flipped byte", func(t *testing.T, mir string) {
			p := filepath.Join(mir, "busybox-1.36.1.tar.bz2")
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			f.ReadAt(b, 2<<20)
			b[0] ^= 0x01
			f.WriteAt(b, 2<<20)
			f.Close()
		}, []string{"corrupt: busybox-1.36.1.tar.bz2"}},
		{"truncated", func(t *testing.T, mir string) {
			if err := os.Truncate(filepath.Join(mir, "git2_github.com.OpenXT.xenclient-oe.git.tar.gz"), 1000); err != nil {
				t.Fatal(err)
			}
		}, []string{"corrupt: git2_github.com.OpenXT.xenclient-oe.git.tar.gz"}},
		{"missing", func(t *testing.T, mir string) {
			os.Remove(filepath.Join(mir, "x86_64-nativesdk-libc-4.6.tar.xz"))
		}, []string{"missing: x86_64-nativesdk-libc-4.6.tar.xz"}},
		{"unindexed", func(t *testing.T, mir string) {
			os.WriteFile(filepath.Join(mir, "stranger.tar.gz"), []byte("x"), 0o644)
			os.WriteFile(filepath.Join(mir, ".hidden-is-ours"), []byte("x"), 0o644)
		}, []string{"unindexed: stranger.tar.gz"}},
		{"symlink out of the mirror", func(t *testing.T, mir string) {
			p := filepath.Join(mir, "zlib-1.3.1.tar.xz")
			os.Remove(p)
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
		}, []string{"unreadable: zlib-1.3.1.tar.xz"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dl, _, _ := typicalDL(t)
			mir := t.TempDir()
			if _, err := Populate(ctx, dl, mir, Options{Copy: true}); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, mir)
			rep, err := Verify(ctx, mir)
			if err == nil {
				t.Fatal("verify passed a damaged mirror")
			}
			if code := exitcode.Of(err); code != exitcode.Failure {
				t.Errorf("exit code %d, want 1", code)
			}
			var got []string
			for _, p := range rep.Problems {
				got = append(got, string(p.Kind)+": "+p.Name)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// sha256sum agrees that something is wrong, except for files it
			// does not know about and for a symlink to identical bytes
			// outside the mirror, which it follows.
			cmd := exec.Command("sha256sum", "-c", "--quiet", IndexName)
			cmd.Dir = mir
			if tc.name != "unindexed" && tc.name != "symlink out of the mirror" {
				if err := cmd.Run(); err == nil {
					t.Error("sha256sum -c passed the damaged mirror")
				}
			}
		})
	}
}

func TestPopulateResumesAfterCancel(t *testing.T) {
	dl := t.TempDir()
	var files []dlFile
	for i := range 40 {
		files = append(files, dlFile{fmt.Sprintf("pkg-%02d.tar.gz", i), content(fmt.Sprint(i), 50000+i*997), true})
	}
	writeDL(t, dl, files)
	mir := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	_, err := Populate(ctx, dl, mir, Options{Copy: true, Jobs: 3, OnFile: func(string, Action) {
		if n.Add(1) == 10 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if exitcode.Of(err) != exitcode.Interrupted {
		t.Errorf("exit code %d, want 130", exitcode.Of(err))
	}
	idx, err := ReadIndex(mir)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) < 10 || len(idx) == len(files) {
		t.Fatalf("interrupted run indexed %d files, want 10..%d", len(idx), len(files)-1)
	}
	// No partial file under a final name, no temporary left behind.
	ents, _ := os.ReadDir(mir)
	for _, e := range ents {
		name := e.Name()
		if isTemp(name) {
			t.Errorf("temporary %s left behind", name)
			continue
		}
		if name == IndexName || name == lockName {
			continue
		}
		got, _ := os.ReadFile(filepath.Join(mir, name))
		wantData, _ := os.ReadFile(filepath.Join(dl, name))
		if !bytes.Equal(got, wantData) {
			t.Errorf("%s: partial or wrong content under its final name", name)
		}
	}
	// A killed run (no chance to clean up) leaves a temporary file.
	stray := filepath.Join(mir, ".pkg-39.tar.gz.tmp-0123456789abcdef")
	os.WriteFile(stray, []byte("half a tarb"), 0o644)

	st, err := Populate(context.Background(), dl, mir, Options{Copy: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.StrayTemps != 1 {
		t.Errorf("removed %d stray temporaries, want 1", st.StrayTemps)
	}
	if _, err := os.Stat(stray); err == nil {
		t.Error("stray temporary still there")
	}
	if st.Added+st.Unchanged != len(files) || st.Added != len(files)-len(idx) {
		t.Errorf("resume stats %+v after %d indexed", st, len(idx))
	}
	if rep, err := Verify(context.Background(), mir); err != nil {
		t.Fatalf("verify after resume: %v %v", err, rep.Problems)
	}
}

// A file renamed into place by a run killed before it wrote the index is
// picked up again, not reported as a conflict.
func TestPopulateAfterKillBeforeIndex(t *testing.T) {
	dl, want, _ := typicalDL(t)
	mir := t.TempDir()
	if _, err := Populate(context.Background(), dl, mir, Options{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(mir, IndexName))
	st, err := Populate(context.Background(), dl, mir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != len(want) {
		t.Errorf("stats %+v", st)
	}
	if rep, err := Verify(context.Background(), mir); err != nil {
		t.Fatalf("%v %v", err, rep.Problems)
	}
}

func TestPopulateLocked(t *testing.T) {
	dl, _, _ := typicalDL(t)
	mir := t.TempDir()
	lk, err := lockMirror(mir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Populate(context.Background(), dl, mir, Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("err %v, want ErrBusy", err)
	}
	if _, err := Verify(context.Background(), mir); !errors.Is(err, ErrBusy) {
		t.Fatalf("verify during a write: %v, want ErrBusy", err)
	}
	lk.Unlock()
	// Readers do not block each other, and a read-only mirror without a
	// lock file verifies.
	r1, err := lockShared(mir)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Unlock()
	if _, err := Verify(context.Background(), mir); err != nil {
		t.Fatalf("verify beside another reader: %v", err)
	}
	ro := t.TempDir()
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(ro, 0o755)
	if _, err := Verify(context.Background(), ro); err != nil {
		t.Fatalf("verify of an empty read-only mirror: %v", err)
	}
}

func TestPopulateRefusesDLInsideMirror(t *testing.T) {
	mir := t.TempDir()
	dl := filepath.Join(mir, "downloads")
	os.Mkdir(dl, 0o755)
	if _, err := Populate(context.Background(), dl, mir, Options{}); err == nil {
		t.Fatal("populate accepted DL_DIR inside the mirror")
	}
}

func TestIndexRoundTrip(t *testing.T) {
	idx := Index{
		"a.tar.gz":       sum([]byte("a")),
		`back\slash.zip`: sum([]byte("b")),
		"dir/c.tar.xz":   sum([]byte("c")),
	}
	got, err := ParseIndex(idx.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(idx) {
		t.Errorf("round trip %v, want %v", got, idx)
	}
	// GNU sha256sum escapes names with backslashes the same way.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, `back\slash.zip`), []byte("b"), 0o644)
	cmd := exec.Command("sha256sum", `back\slash.zip`)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Index{`back\slash.zip`: sum([]byte("b"))}).Bytes(); !bytes.Equal(out, want) {
		t.Errorf("sha256sum prints %q, we write %q", out, want)
	}
	for _, bad := range []string{
		"zz  a\n",
		sum(nil) + "  ../etc/passwd\n",
		sum(nil) + "  /etc/passwd\n",
		sum(nil) + "  .xtbuild-mirror.lock\n",
		sum(nil) + "  a\n" + sum(nil) + "  a\n",
	} {
		if _, err := ParseIndex([]byte(bad)); err == nil {
			t.Errorf("ParseIndex(%q) accepted", bad)
		}
	}
}
