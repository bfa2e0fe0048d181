package stage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/stage"
)

// TestRemove: stage:clean removes the build's tree and leaves other
// builds' trees; it waits for a worker holding a step's lock (a put or a
// restore still running) and, given up on, removes nothing; a tree a
// crashed clean set aside goes with the next clean; nothing staged is
// not an error; names that would leave the stage are refused.
func TestRemove(t *testing.T) {
	stageDir := filepath.Join(t.TempDir(), "stage")
	bt := newBuilt(t, stageDir)
	if err := bt.put(lock1); err != nil {
		t.Fatal(err)
	}
	name := bt.b.Plan.Name
	other := filepath.Join(stageDir, "other-build", "steps", "dom0", stage.IndexFile)
	os.MkdirAll(filepath.Dir(other), 0o755)
	os.WriteFile(other, []byte("{}"), 0o644)
	ctx := context.Background()

	// A worker holds dom0's lock: clean waits, and gives up with its
	// context, removing nothing.
	held, err := buildlock.Wait(ctx, filepath.Join(stageDir, name, "steps", ".dom0.lock"))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = stage.Remove(short, bt.b.Config, name)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("clean while a step is locked: %v, want it to wait and give up", err)
	}
	if _, err := os.Stat(filepath.Join(bt.stepDir(), stage.IndexFile)); err != nil {
		t.Fatalf("a clean that gave up removed the step: %v", err)
	}
	// Released while clean waits: clean goes on.
	done := make(chan error, 1)
	var removed []string
	go func() {
		var err error
		removed, err = stage.Remove(ctx, bt.b.Config, name)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("clean did not wait for the step's lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// A tree set aside by a clean that crashed before deleting it.
	crashed := filepath.Join(stageDir, "."+name+".removing.12345")
	os.MkdirAll(filepath.Join(crashed, "steps", "dom0"), 0o755)
	held.Unlock()
	if err := <-done; err != nil || !slices.Equal(removed, []string{"dom0"}) {
		t.Fatalf("clean: removed %q, %v; want dom0", removed, err)
	}
	ents, _ := os.ReadDir(stageDir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"other-build"}) {
		t.Errorf("stage holds %q after the clean, want only the other build", left)
	}

	// Again: nothing staged.
	removed, err = stage.Remove(ctx, bt.b.Config, name)
	if err != nil || len(removed) != 0 {
		t.Errorf("clean of a build with nothing staged: %v %v, want nothing and no error", removed, err)
	}
	for _, bad := range []string{"", ".", "..", "../stage", "a/b", ".hidden"} {
		if _, err := stage.Remove(ctx, bt.b.Config, bad); err == nil {
			t.Errorf("clean of build name %q: no error", bad)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the other build's tree was touched: %v", err)
	}

	// A build tree, or its steps, that is a symlink elsewhere is refused,
	// and nothing is created or removed through it.
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), nil, 0o644)
	os.Symlink(outside, filepath.Join(stageDir, "linked"))
	os.MkdirAll(filepath.Join(stageDir, "stepslinked"), 0o755)
	os.Symlink(outside, filepath.Join(stageDir, "stepslinked", "steps"))
	for _, n := range []string{"linked", "stepslinked"} {
		if _, err := stage.Remove(ctx, bt.b.Config, n); err == nil || !strings.Contains(err.Error(), "is a symlink; refusing to follow it") {
			t.Errorf("clean of %s (a symlink): %v, want it refused", n, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 || ents[0].Name() != "keep" {
		t.Errorf("the directory behind the symlinks holds %v after the cleans, want only keep", ents)
	}
}
