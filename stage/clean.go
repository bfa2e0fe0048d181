package stage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/buildlock"
)

// removingMark names a build tree set aside to be deleted:
// <stage>/.<NAME><removingMark><pid>.
const removingMark = ".removing."

// Remove deletes build name's tree from the stage (<stage>/<NAME>), as
// the final builder does once it has collected, signed and shipped the
// build (stage:clean). It first takes the lock of every step the tree
// holds (published, being written, or only locked), waiting while a
// worker still puts or restores one, then renames the tree aside in one
// step (readers find the build gone, never half of a step) and deletes it;
// trees a crashed Remove set aside for the same build go too. It returns
// the steps that were published. Nothing staged for name is not an error.
func Remove(ctx context.Context, c *config.Config, name string) ([]string, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("stage:clean: %q is not a build name", name)
	}
	stepsDir, err := StepsDir(c, name)
	if err != nil {
		return nil, err
	}
	buildDir := filepath.Dir(stepsDir)
	aside := filepath.Join(c.Fanout.Stage, "."+name+removingMark+strconv.Itoa(os.Getpid()))
	// StepsDir has refused a build tree or steps entry that is a symlink
	// (the locks below would have been created through it).
	if _, err := os.Lstat(buildDir); errors.Is(err, fs.ErrNotExist) {
		return nil, removeAside(c.Fanout.Stage, name)
	} else if err != nil {
		return nil, fmt.Errorf("stage:clean: %w", err)
	}
	steps, err := lockedSteps(stepsDir)
	if err != nil {
		return nil, err
	}
	var held []*buildlock.Lock
	defer func() {
		for _, l := range held {
			l.Unlock()
		}
	}()
	for _, s := range steps {
		l, err := lockStep(ctx, stepsDir, s)
		if err != nil {
			return nil, fmt.Errorf("stage:clean: lock step %s: %w", s, err)
		}
		held = append(held, l)
	}
	// What is published now, the locks held, is what goes.
	published, err := Published(c, name)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(buildDir, aside); err != nil {
		return nil, fmt.Errorf("stage:clean: %w", err)
	}
	for _, l := range held {
		l.Unlock()
	}
	held = nil
	if err := os.RemoveAll(aside); err != nil {
		return published, fmt.Errorf("stage:clean: %s was set aside as %s but not deleted: %w", buildDir, aside, err)
	}
	return published, removeAside(c.Fanout.Stage, name)
}

// lockedSteps names every step of stepsDir that has a directory (published
// or being written as .<step>.partial) or a lock file.
func lockedSteps(stepsDir string) ([]string, error) {
	ents, err := os.ReadDir(stepsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stage:clean: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".lock"):
			n = strings.TrimSuffix(strings.TrimPrefix(n, "."), ".lock")
		case strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".partial"):
			n = strings.TrimSuffix(strings.TrimPrefix(n, "."), ".partial")
		case strings.HasPrefix(n, "."):
			continue
		}
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// removeAside deletes the trees of build name that an earlier Remove set
// aside and did not finish deleting.
func removeAside(stageDir, name string) error {
	ents, err := os.ReadDir(stageDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stage:clean: %w", err)
	}
	for _, e := range ents {
		pid, ok := strings.CutPrefix(e.Name(), "."+name+removingMark)
		if _, err := strconv.Atoi(pid); !ok || err != nil {
			continue
		}
		if err := os.RemoveAll(filepath.Join(stageDir, e.Name())); err != nil {
			return fmt.Errorf("stage:clean: %w", err)
		}
	}
	return nil
}
