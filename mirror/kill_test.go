package mirror

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperPopulate is not a test: TestPopulateSurvivesSIGKILL runs the
// test binary again with MIRROR_KILL_HELPER set to get a populate process
// it can kill -9.
func TestHelperPopulate(t *testing.T) {
	if os.Getenv("MIRROR_KILL_HELPER") == "" {
		t.Skip("helper process only")
	}
	// Slow each file down so the parent can kill mid-run.
	_, err := Populate(context.Background(), os.Getenv("MIRROR_KILL_DL"), os.Getenv("MIRROR_KILL_MIRROR"), Options{
		Copy: true, Jobs: 2, CheckpointEvery: time.Millisecond,
		OnFile: func(string, Action) { time.Sleep(20 * time.Millisecond) },
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A populate killed with SIGKILL (no deferred cleanup, no final index
// write) leaves no partial file under a final name, and the next run
// removes its temporaries and completes the mirror.
func TestPopulateSurvivesSIGKILL(t *testing.T) {
	dl, mir := t.TempDir(), t.TempDir()
	var files []dlFile
	for i := range 60 {
		files = append(files, dlFile{fmt.Sprintf("src-%02d.tar.gz", i), content(fmt.Sprint("k", i), 3<<20+i), true})
	}
	writeDL(t, dl, files)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPopulate$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MIRROR_KILL_HELPER=1", "MIRROR_KILL_DL="+dl, "MIRROR_KILL_MIRROR="+mir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once some files are indexed, while others are being copied.
	deadline := time.Now().Add(30 * time.Second)
	for {
		idx, _ := ReadIndex(mir)
		if len(idx) >= 8 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("helper made no progress:\n%s", out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	idx, err := ReadIndex(mir)
	if err != nil {
		t.Fatalf("index after kill: %v", err)
	}
	if len(idx) >= len(files) {
		t.Fatalf("helper finished before the kill (%d indexed); make it slower", len(idx))
	}
	ents, _ := os.ReadDir(mir)
	for _, e := range ents {
		name := e.Name()
		if isTemp(name) || name == IndexName || name == lockName {
			continue
		}
		got, _ := os.ReadFile(filepath.Join(mir, name))
		want, _ := os.ReadFile(filepath.Join(dl, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: partial content under its final name after SIGKILL", name)
		}
		if s, ok := idx[name]; ok && s != sum(want) {
			t.Errorf("%s: indexed with a wrong sum", name)
		}
	}
	st, err := Populate(context.Background(), dl, mir, Options{Copy: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added+st.Unchanged != len(files) || st.Unchanged != len(idx) {
		t.Errorf("resume after SIGKILL: %+v with %d indexed before", st, len(idx))
	}
	ents, _ = os.ReadDir(mir)
	for _, e := range ents {
		if strings.Contains(e.Name(), tempSuffix) {
			t.Errorf("temporary %s survived the resume", e.Name())
		}
	}
	if rep, err := Verify(context.Background(), mir); err != nil {
		t.Fatalf("verify after resume: %v %v", err, rep.Problems)
	}
	t.Logf("killed after %d of %d files; resume removed %d temporaries", len(idx), len(files), st.StrayTemps)
}

// A transfer cancelled inside a file removes its temporary at once.
func TestCancelledTransferLeavesNothing(t *testing.T) {
	for _, copyMode := range []bool{false, true} {
		dl, mir := t.TempDir(), t.TempDir()
		writeDL(t, dl, []dlFile{{"big.tar.gz", content("big", 8<<20), true}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		info, _ := os.Stat(filepath.Join(dl, "big.tar.gz"))
		p := &populator{mirror: mir, idx: Index{}, opts: Options{Copy: copyMode}, st: &Stats{}, every: time.Hour}
		err := p.one(ctx, download{name: "big.tar.gz", src: filepath.Join(dl, "big.tar.gz"), info: info}, make([]byte, bufSize))
		if err == nil {
			t.Fatalf("copy=%v: cancelled transfer succeeded", copyMode)
		}
		ents, _ := os.ReadDir(mir)
		if len(ents) != 0 {
			t.Errorf("copy=%v: left %v", copyMode, ents)
		}
	}
}
