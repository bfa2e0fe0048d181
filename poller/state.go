package poller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// State is the last set of refs delivered to each target, per mirror. It is
// saved atomically after every successful delivery, so after a crash the
// difference between it and the mirror is exactly what was not delivered.
type State struct {
	path string
	mu   sync.Mutex
	data stateFile
}

type stateFile struct {
	Version int                   `json:"version"`
	Repos   map[string]*repoState `json:"repos"` // key: absolute gitdir
}

type repoState struct {
	URL     string          `json:"url"`
	Targets map[string]Refs `json:"targets"` // key: hook or change-hook name
}

// OpenState reads the state file, or starts empty when it does not exist.
func OpenState(path string) (*State, error) {
	s := &State{path: path, data: stateFile{Version: 1, Repos: map[string]*repoState{}}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read poller state: %w", err)
	}
	if err := json.Unmarshal(b, &s.data); err != nil {
		return nil, fmt.Errorf("parse poller state %s: %w", path, err)
	}
	if s.data.Version != 1 {
		return nil, fmt.Errorf("poller state %s: unknown version %d", path, s.data.Version)
	}
	if s.data.Repos == nil {
		s.data.Repos = map[string]*repoState{}
	}
	return s, nil
}

// Delivered returns the refs last delivered to target for the mirror at
// gitdir, and false when the target has never seen this mirror.
func (s *State) Delivered(gitdir, target string) (Refs, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.data.Repos[gitdir]
	if r == nil {
		return nil, false
	}
	refs, ok := r.Targets[target]
	return refs.clone(), ok
}

// Commit records refs as delivered to target and writes the file.
func (s *State) Commit(gitdir, url, target string, refs Refs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.data.Repos[gitdir]
	if r == nil {
		r = &repoState{Targets: map[string]Refs{}}
		s.data.Repos[gitdir] = r
	}
	r.URL = url
	prev, had := r.Targets[target]
	r.Targets[target] = refs.clone()
	if err := s.saveLocked(); err != nil {
		if had {
			r.Targets[target] = prev
		} else {
			delete(r.Targets, target)
		}
		return err
	}
	return nil
}

func (s *State) saveLocked() error {
	b, err := json.MarshalIndent(&s.data, "", "  ")
	if err != nil {
		return fmt.Errorf("encode poller state: %w", err)
	}
	return writeFileAtomic(s.path, append(b, '\n'), 0o644)
}

// writeFileAtomic writes a temp file in the same directory, fsyncs it,
// renames it over path and fsyncs the directory, so readers and a crash
// only ever see the old or the new content.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
