package sstate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// objName is an sstate object path in oe-core's layout for hash h.
func objName(h string, task string) string {
	return fmt.Sprintf("%s/%s/sstate:demo:core2-64-oe-linux:1.0:r0:core2-64:12:%s_%s.tar.zst", h[:2], h[2:4], h, task)
}

func hashOf(i int) string {
	s := sha256.Sum256([]byte(fmt.Sprint(i)))
	return fmt.Sprintf("%x", s)
}

// content is object i's bytes: the same for every build that made it.
func content(i int) []byte {
	size := 100 + i*37
	if i%10 == 0 {
		size = 300 << 10 // some objects large enough to be caught mid-copy
	}
	return bytes.Repeat([]byte{byte(i), byte(i >> 8), 'x'}, size/3)
}

func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// objects makes the files of objects lo..hi-1 (object and .siginfo).
func objects(lo, hi int) map[string][]byte {
	m := map[string][]byte{}
	for i := lo; i < hi; i++ {
		n := objName(hashOf(i), "populate_sysroot")
		m[n] = content(i)
		m[n+".siginfo"] = []byte("siginfo " + n)
	}
	return m
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		m[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPublishCopiesOnlyObjectsOnce(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "build", "sstate-cache"), filepath.Join(root, "shared")
	want := objects(0, 5)
	writeTree(t, src, want)
	writeTree(t, src, map[string][]byte{
		objName(hashOf(9), "package") + ".a1B2c3": []byte("BitBake's temp file"),
		"ab/cd/notes.txt":                         []byte("not sstate"),
		"ab/.sstate:x.tar.zst.tmp-1":              []byte("someone's temp"),
	})
	os.Symlink("/etc/passwd", filepath.Join(src, "ab", "sstate:evil:x:1:r0:x:12:h_fetch.tar.zst"))

	res, err := Publish(context.Background(), src, dst, quiet)
	if err != nil {
		t.Fatal(err)
	}
	var bytesWant int64
	for _, b := range want {
		bytesWant += int64(len(b))
	}
	if res.Copied != 10 || res.Present != 0 || res.Bytes != bytesWant || res.Conflicts != 0 {
		t.Errorf("first publish: %+v, want 10 copied, %d bytes", res, bytesWant)
	}
	got := readTree(t, dst)
	if len(got) != len(want) {
		t.Errorf("published %d files, want %d: %v", len(got), len(want), keys(got))
	}
	for n, b := range want {
		if !bytes.Equal(got[n], b) {
			t.Errorf("%s differs", n)
		}
	}
	st, _ := os.Stat(filepath.Join(dst, objName(hashOf(1), "populate_sysroot")))
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}

	// Idempotent: nothing new, nothing copied.
	res, err = Publish(context.Background(), src, dst, quiet)
	if err != nil || res.Copied != 0 || res.Present != 10 {
		t.Errorf("second publish: %+v, %v", res, err)
	}
	if !strings.Contains(res.String(), "0 sstate files published (0 B), 10 already present") {
		t.Errorf("summary %q", res)
	}
}

func TestPublishLeavesConflictAlone(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "dst")
	n := objName(hashOf(1), "package")
	writeTree(t, src, map[string][]byte{n: []byte("ours, longer")})
	writeTree(t, dst, map[string][]byte{n: []byte("theirs")})
	res, err := Publish(context.Background(), src, dst, quiet)
	if err != nil || res.Conflicts != 1 || res.Copied != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, n)); string(b) != "theirs" {
		t.Errorf("published object replaced: %q", b)
	}
}

func TestPublishRefusesOverlapAndStopsOnCancel(t *testing.T) {
	root := t.TempDir()
	if _, err := Publish(context.Background(), root, filepath.Join(root, "pub"), quiet); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("nested dirs: %v", err)
	}
	src := filepath.Join(root, "src")
	writeTree(t, src, objects(0, 3))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Publish(ctx, src, filepath.Join(t.TempDir(), "dst"), quiet); err != context.Canceled {
		t.Errorf("cancelled publish: %v", err)
	}
	// A build dir without sstate publishes nothing.
	if res, err := Publish(context.Background(), filepath.Join(root, "none"), filepath.Join(root, "dst2"), quiet); err != nil || res.Copied != 0 {
		t.Errorf("missing SSTATE_DIR: %+v %v", res, err)
	}
}

// Two workers publish overlapping object sets into one directory at once
// while a reader (a third worker's BitBake) watches it: every object ends
// up once, whole and verified, each copied by exactly one publisher, and
// the reader never sees a partial object under its final name.
func TestPublishTwoConcurrentPublishers(t *testing.T) {
	root := t.TempDir()
	dst := filepath.Join(root, "shared")
	srcA, srcB := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeTree(t, srcA, objects(0, 60))
	writeTree(t, srcB, objects(30, 90)) // 30..59 built by both
	want := objects(0, 90)
	sums := map[string][32]byte{}
	for n, b := range want {
		sums[n] = sha256.Sum256(b)
	}

	stop := make(chan struct{})
	var partial atomic.Int32
	var seen atomic.Int32
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || !IsObject(d.Name()) {
					return nil
				}
				rel, _ := filepath.Rel(dst, p)
				b, err := os.ReadFile(p)
				if err != nil {
					return nil
				}
				seen.Add(1)
				if sha256.Sum256(b) != sums[rel] {
					partial.Add(1)
					t.Errorf("reader saw %s with %d bytes, not the whole object", rel, len(b))
				}
				return nil
			})
		}
	}()

	var wg sync.WaitGroup
	results := make([]Result, 2)
	errs := make([]error, 2)
	for i, src := range []string{srcA, srcB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Publish(context.Background(), src, dst, quiet)
		}()
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	readers.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("publisher %d: %v", i, err)
		}
	}
	if c := results[0].Copied + results[1].Copied; c != len(want) {
		t.Errorf("copied %d + %d = %d, want each of the %d files copied once", results[0].Copied, results[1].Copied, c, len(want))
	}
	if p := results[0].Present + results[1].Present; p != 60 {
		t.Errorf("present %d + %d, want the 60 shared files found present once", results[0].Present, results[1].Present)
	}
	if results[0].Conflicts+results[1].Conflicts != 0 {
		t.Errorf("conflicts: %+v %+v", results[0], results[1])
	}
	got := readTree(t, dst)
	if len(got) != len(want) {
		t.Errorf("%d files in the shared dir, want %d (temp files left?)", len(got), len(want))
	}
	for n, b := range want {
		if !bytes.Equal(got[n], b) {
			t.Errorf("%s differs", n)
		}
	}
	t.Logf("reader checked %d object reads during the race, %d partial", seen.Load(), partial.Load())
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// BenchmarkPublish publishes 200 objects of 256 KiB (50 MiB) into an empty
// directory: copy, fsync, re-read and hash, link.
func BenchmarkPublish(b *testing.B) {
	src := b.TempDir()
	files := map[string][]byte{}
	for i := 0; i < 200; i++ {
		files[objName(hashOf(i), "package")] = bytes.Repeat([]byte{byte(i)}, 256<<10)
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o644)
	}
	b.SetBytes(200 * 256 << 10)
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(b.TempDir(), "shared")
		if res, err := Publish(context.Background(), src, dst, quiet); err != nil || res.Copied != 200 {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

// TestMain lets the test binary act as a separate publisher process
// (XTBUILD_TEST_PUBLISH="src\ndst"), as two workers' sstate:publish are.
func TestMain(m *testing.M) {
	if v := os.Getenv("XTBUILD_TEST_PUBLISH"); v != "" {
		src, dst, _ := strings.Cut(v, "\n")
		res, err := Publish(context.Background(), src, dst, quiet)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%d %d %d\n", res.Copied, res.Present, res.Conflicts)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Two publisher processes racing over the same objects: each file copied
// by exactly one of them, all whole.
func TestPublishTwoProcesses(t *testing.T) {
	root := t.TempDir()
	dst := filepath.Join(root, "shared")
	srcA, srcB := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeTree(t, srcA, objects(0, 40))
	writeTree(t, srcB, objects(0, 40)) // the same build on two workers
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for _, src := range []string{srcA, srcB} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "XTBUILD_TEST_PUBLISH="+src+"\n"+dst)
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	copiedTotal, presentTotal := 0, 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("publisher %d: %v\n%s", i, err, outs[i])
		}
		var c, p, x int
		fmt.Sscan(outs[i].String(), &c, &p, &x)
		if x != 0 {
			t.Errorf("publisher %d: %d conflicts", i, x)
		}
		copiedTotal += c
		presentTotal += p
	}
	if copiedTotal != 80 || presentTotal != 80 {
		t.Errorf("copied %d, present %d: want each of the 80 files copied once and found once", copiedTotal, presentTotal)
	}
	got := readTree(t, dst)
	for n, b := range objects(0, 40) {
		if !bytes.Equal(got[n], b) {
			t.Errorf("%s differs", n)
		}
	}
	if len(got) != 80 {
		t.Errorf("%d files, want 80", len(got))
	}
}
