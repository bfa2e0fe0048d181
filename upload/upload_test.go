package upload

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/term"
)

const testName = "xt-dev-42-master"

// writeRandom writes n pseudo-random bytes (incompressible, like images).
func writeRandom(t testing.TB, p string, n int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	r := rand.NewChaCha8(s)
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		r.Read(buf[:k])
		if _, err := f.Write(buf[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// makeBuild lays out a small build-output/<NAME> shaped like ship's: an
// ISO, netboot files with a symlink, a signed repository, many small
// packages, an empty directory, provenance and the manifest.
func makeBuild(t testing.TB, root string, isoSize int64) string {
	t.Helper()
	b := filepath.Join(root, "build-output", testName)
	writeRandom(t, filepath.Join(b, "iso", "installer.iso"), isoSize, 1)
	writeRandom(t, filepath.Join(b, "netboot", "vmlinuz"), 300<<10, 2)
	writeRandom(t, filepath.Join(b, "netboot", "rootfs.i686.cpio.gz"), 2<<20, 3)
	writeRandom(t, filepath.Join(b, "repository", "packages.main", "dom0-rootfs.ext3.gz"), 3<<20, 4)
	writeFile(t, filepath.Join(b, "repository", "packages.main", "XC-PACKAGES"), "dom0 ext3gz 1234 abc dom0-rootfs.ext3.gz /\n")
	writeFile(t, filepath.Join(b, "repository", "packages.main", "XC-SIGNATURE"), "signature\n")
	for i := 0; i < 40; i++ {
		writeRandom(t, filepath.Join(b, "packages", "ipk", "core2-32", "pkg"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".ipk"), int64(1000+i*517), uint64(100+i))
	}
	writeFile(t, filepath.Join(b, "packages", "ipk", "core2-32", "empty.ipk"), "")
	if err := os.MkdirAll(filepath.Join(b, "licences", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("vmlinuz", filepath.Join(b, "netboot", "bzImage")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(b, "provenance.json"), `{"_type":"https://in-toto.io/Statement/v1"}`+"\n")
	writeFile(t, filepath.Join(b, ManifestName), `{"name":"`+testName+`"}`+"\n")
	return b
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkPublished compares the destination tree with the build: the same
// entries, bytes, symlinks, and exactly the given modes.
func checkPublished(t testing.TB, src, dst string, dirMode, fileMode fs.FileMode) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		seen[rel] = true
		q := filepath.Join(dst, rel)
		fi, err := os.Lstat(q)
		if err != nil {
			t.Errorf("missing at destination: %v", err)
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			want, _ := os.Readlink(p)
			if got, err := os.Readlink(q); err != nil || got != want {
				t.Errorf("%s: symlink to %q, want %q (%v)", rel, got, want, err)
			}
		case d.IsDir():
			if !fi.IsDir() || fi.Mode().Perm() != dirMode {
				t.Errorf("%s: mode %v, want directory %#o", rel, fi.Mode(), dirMode)
			}
		default:
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != fileMode {
				t.Errorf("%s: mode %v, want file %#o", rel, fi.Mode(), fileMode)
			}
			a, _ := os.ReadFile(p)
			b, _ := os.ReadFile(q)
			if !bytes.Equal(a, b) {
				t.Errorf("%s: content differs (%d vs %d bytes)", rel, len(a), len(b))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dst, p)
		if err == nil && !seen[rel] {
			t.Errorf("extra at destination: %s", rel)
		}
		return nil
	})
}

// target is one kind of destination; both are inspected through the local
// filesystem because the sshd runs on this machine.
type target struct {
	name string
	url  func(dir string) string
	opts func(o *Options)
}

func targets(t *testing.T) []target {
	ts := []target{{
		name: "file",
		url:  func(dir string) string { return "file://" + dir },
		opts: func(*Options) {},
	}}
	needSSHD(t)
	s := startSSHD(t)
	ts = append(ts, target{
		name: "sftp",
		url:  s.url,
		opts: func(o *Options) { o.KnownHosts, o.Identity = s.knownHosts, s.identity },
	}, target{
		name: "sftp-files",
		url:  s.url,
		opts: func(o *Options) { o.KnownHosts, o.Identity, o.Transport = s.knownHosts, s.identity, "sftp" },
	})
	return ts
}

// paranoidUmask sets the test process umask to 077, like the buildbot
// master in the seed, and restores it afterwards. The sshd started by
// these tests forces the same umask with internal-sftp -u 0077.
func paranoidUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
}

func TestPublish(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			paranoidUmask(t)
			root := t.TempDir()
			src := makeBuild(t, root, 5<<20)
			dest := filepath.Join(root, "srv", "builds")
			var log bytes.Buffer
			o := Options{Src: src, Dest: tg.url(dest), Branch: "master", Term: term.NewPlain(&log)}
			tg.opts(&o)

			st, err := Publish(context.Background(), o)
			if err != nil {
				t.Fatalf("Publish: %v\n%s", err, log.String())
			}
			final := filepath.Join(dest, "master", testName)
			checkPublished(t, src, final, 0o755, 0o644)
			for _, d := range []string{filepath.Join(dest), filepath.Join(dest, "master")} {
				if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("created parent %s: %v %v, want 0755 despite umask 077", d, fi.Mode(), err)
				}
			}
			if got, err := os.Readlink(filepath.Join(dest, "master", LatestName)); err != nil || got != testName {
				t.Errorf("latest -> %q (%v), want %q", got, err, testName)
			}
			left, _ := filepath.Glob(filepath.Join(dest, "master", ".*"))
			if len(left) > 0 {
				t.Errorf("temporary names left behind: %v", left)
			}
			if st.Sent != st.Bytes || st.Skipped != 0 || st.Files != 49 || st.Verified != st.Files || st.Attempts != 1 {
				t.Errorf("stats %+v: want every byte of 49 files sent and verified once", st)
			}
			if !strings.Contains(log.String(), "sent iso/installer.iso (5.0 MiB)") {
				t.Errorf("plain log lacks the per-file line:\n%s", log.String())
			}

			// Publishing the same build again sends nothing.
			st, err = Publish(context.Background(), o)
			if err != nil {
				t.Fatalf("second Publish: %v", err)
			}
			if !st.AlreadyPublished || st.Sent != 0 || st.Skipped != st.Bytes {
				t.Errorf("second publish stats %+v: want already published, nothing sent", st)
			}

			// Different content under the same name is refused, and the
			// published build is untouched.
			writeFile(t, filepath.Join(src, "provenance.json"), "changed\n")
			_, err = Publish(context.Background(), o)
			if !errors.Is(err, ErrDifferentBuild) || !strings.Contains(err.Error(), "provenance.json") {
				t.Errorf("republish of changed build: %v, want ErrDifferentBuild naming provenance.json", err)
			}
			if b, _ := os.ReadFile(filepath.Join(final, "provenance.json")); string(b) == "changed\n" {
				t.Error("published build was overwritten")
			}
		})
	}
}

func TestPublishInterruptedThenResumed(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			paranoidUmask(t)
			root := t.TempDir()
			src := makeBuild(t, root, 12<<20)
			dest := filepath.Join(root, "dest")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := Options{Src: src, Dest: tg.url(dest), Branch: "stable-9", Parallel: 1,
				sendHook: func(total int64) {
					if total > 7<<20 {
						cancel() // Ctrl-C in the middle of the ISO
					}
				}}
			tg.opts(&o)
			_, err := Publish(ctx, o)
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "resume") {
				t.Fatalf("interrupted Publish: %v, want context.Canceled and a hint to resume", err)
			}
			base := filepath.Join(dest, "stable-9")
			if _, err := os.Lstat(filepath.Join(base, testName)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("final name exists after an interrupted upload: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(base, LatestName)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("latest exists after an interrupted upload: %v", err)
			}
			partial := filepath.Join(base, "."+testName+".partial")
			if fi, err := os.Stat(partial); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("partial directory: %v %v, want a private 0700 directory to resume from", fi, err)
			}
			if _, err := os.Stat(filepath.Join(partial, ManifestName)); err == nil {
				t.Error("manifest.json uploaded before the other files")
			}
			iso, err := os.Stat(filepath.Join(partial, "iso", "installer.iso"))
			if err != nil || iso.Size() == 0 || iso.Size() >= 12<<20 {
				t.Fatalf("partial ISO: %v %v, want a partly written file", iso, err)
			}

			// A stray file (from an older upload of other content) and a
			// corrupted complete file must not survive the resume.
			writeFile(t, filepath.Join(partial, "stray.bin"), "old\n")
			writeFile(t, filepath.Join(partial, "repository", "packages.main", "XC-SIGNATURE"), "forged!!!\n")

			o.sendHook = nil
			st, err := Publish(context.Background(), o)
			if err != nil {
				t.Fatalf("resumed Publish: %v", err)
			}
			checkPublished(t, src, filepath.Join(base, testName), 0o755, 0o644)
			if st.Sent >= st.Bytes || st.Sent+st.Skipped > st.Bytes+resumeMargin*2 {
				t.Errorf("resume stats %+v: want only the missing part sent", st)
			}
			if _, err := os.Lstat(partial); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("partial left after a completed upload: %v", err)
			}
		})
	}
}

func TestPublishSkipsVerifiedFiles(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			root := t.TempDir()
			src := makeBuild(t, root, 1<<20)
			dest := filepath.Join(root, "dest")
			partial := filepath.Join(dest, "master", "."+testName+".partial")
			// A previous run got the ISO and netboot across, with modes
			// from a different setting; same-size but different content
			// in vmlinuz must be resent.
			for _, rel := range []string{"iso/installer.iso", "netboot/rootfs.i686.cpio.gz"} {
				b, _ := os.ReadFile(filepath.Join(src, rel))
				writeFile(t, filepath.Join(partial, rel), string(b))
				os.Chmod(filepath.Join(partial, rel), 0o600)
			}
			b, _ := os.ReadFile(filepath.Join(src, "netboot", "vmlinuz"))
			b[100] ^= 0xff
			writeFile(t, filepath.Join(partial, "netboot", "vmlinuz"), string(b))

			o := Options{Src: src, Dest: tg.url(dest), Branch: "master", DirMode: 0o750, FileMode: 0o640}
			tg.opts(&o)
			st, err := Publish(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkPublished(t, src, filepath.Join(dest, "master", testName), 0o750, 0o640)
			wantSkipped := int64(1<<20 + 2<<20)
			if st.Skipped != wantSkipped || st.SkippedFiles != 2 || st.Sent != st.Bytes-wantSkipped {
				t.Errorf("stats %+v: want %d bytes in 2 files skipped, the rest sent", st, wantSkipped)
			}
		})
	}
}

func TestPublishRefusesTraversal(t *testing.T) {
	root := t.TempDir()
	src := makeBuild(t, root, 1<<10)
	dest := filepath.Join(root, "dest")
	cases := []struct {
		name, branch, want string
	}{
		{"../evil", "master", "starts with a dot"},
		{"x/../../evil", "master", "path separator"},
		{"..", "master", "not a name"},
		{".hidden", "master", "starts with a dot"},
		{"a/b", "master", "path separator"},
		{testName, "../../etc", "not a name"},
		{testName, "a/../../b", "not a name"},
		{testName, "", "branch is empty"},
		{testName, "x\ny", "control character"},
	}
	for _, c := range cases {
		t.Run(c.name+"|"+c.branch, func(t *testing.T) {
			_, err := Publish(context.Background(), Options{Src: src, Name: c.name, Branch: c.branch, Dest: "file://" + dest})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if err := os.Symlink("../../../etc/passwd", filepath.Join(src, "netboot", "escape")); err != nil {
		t.Fatal(err)
	}
	_, err := Publish(context.Background(), Options{Src: src, Branch: "master", Dest: "file://" + dest})
	if err == nil || !strings.Contains(err.Error(), "points outside the build") {
		t.Errorf("symlink out of the build: %v", err)
	}
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused uploads created %s: %v", dest, err)
	}
}

func TestParseDestination(t *testing.T) {
	cases := []struct {
		in   string
		want Destination
		err  string
	}{
		{in: "file:///srv/builds/", want: Destination{Scheme: "file", Path: "/srv/builds"}},
		{in: "file://localhost/srv", want: Destination{Scheme: "file", Path: "/srv"}},
		{in: "sftp://builder@example.org/srv/builds", want: Destination{Scheme: "sftp", User: "builder", Host: "example.org", Port: 22, Path: "/srv/builds"}},
		{in: "sftp://example.org:2222/~/xt-builds", want: Destination{Scheme: "sftp", Host: "example.org", Port: 2222, Path: "xt-builds"}},
		{in: "sftp://u@[::1]:2200/b", want: Destination{Scheme: "sftp", User: "u", Host: "::1", Port: 2200, Path: "/b"}},
		{in: "sftp://u@h", want: Destination{Scheme: "sftp", User: "u", Host: "h", Port: 22, Path: "."}},
		{in: "file://server/srv", err: "local path"},
		{in: "file:relative", err: "opaque"},
		{in: "sftp://u:secret@h/x", err: "passwords"},
		{in: "sftp:///x", err: "without a host"},
		{in: "sftp://h:99999/x", err: "port"},
		{in: "rsync://h/x", err: "not supported"},
		{in: "/srv/builds", err: "want file:///path"},
		{in: "sftp://h/x?y=1", err: "queries"},
		{in: "sftp://h/x%0Ay", err: "control characters"},
	}
	for _, c := range cases {
		got, err := ParseDestination(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if s := (Destination{Scheme: "sftp", Host: "h", Port: 2222, Path: "xt-builds"}).String(); s != "sftp://h:2222/~/xt-builds" {
		t.Errorf("String() = %q", s)
	}
}

func TestProgressLine(t *testing.T) {
	cases := []struct {
		sent, total int64
		secs        float64
		want        string
	}{
		{0, 2 << 30, 0, "upload [>                       ]   0%  0 B / 2.0 GiB  0 B/s  ETA --:--"},
		{1 << 30, 2 << 30, 4, "upload [============>           ]  50%  1.0 GiB / 2.0 GiB  256.0 MiB/s  ETA 0:04"},
		{2 << 30, 2 << 30, 8, "upload [========================] 100%  2.0 GiB / 2.0 GiB  256.0 MiB/s  ETA 0:00"},
		{10 << 20, 100 << 30, 1, "upload [>                       ]   0%  10.0 MiB / 100.0 GiB  10.0 MiB/s  ETA 2:50:39"},
	}
	for _, c := range cases {
		got := progressLine(c.sent, c.total, time_(c.secs))
		if got != c.want {
			t.Errorf("progressLine(%d, %d, %vs)\n got %q\nwant %q", c.sent, c.total, c.secs, got, c.want)
		}
	}
}

func TestOptionsFromConfig(t *testing.T) {
	var c config.Config
	c.Upload = config.Upload{Destination: "sftp://b@h/srv", KnownHosts: "/k", Identity: "/id", DirMode: "0750", FileMode: "0640"}
	c.Build.Branch = "stable-9"
	o, err := OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Dest != "sftp://b@h/srv" || o.Branch != "stable-9" || o.KnownHosts != "/k" || o.Identity != "/id" || o.DirMode != 0o750 || o.FileMode != 0o640 {
		t.Errorf("got %+v", o)
	}
	for _, bad := range []string{"755x", "1777", "rwx"} {
		c.Upload.FileMode = bad
		if _, err := OptionsFromConfig(&c); err == nil || !strings.Contains(err.Error(), "upload.file_mode") {
			t.Errorf("file_mode %q: %v", bad, err)
		}
	}
	if m, err := ParseMode(""); err != nil || m != 0 {
		t.Errorf("empty mode: %v %v, want 0 (default)", m, err)
	}
}
