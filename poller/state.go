package poller

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// State is the last set of refs delivered to each target, per mirror, plus
// a journal of the parts of the pending batch each target already accepted.
//
// The state file is replaced atomically after a whole batch was delivered.
// Before that, every accepted part (one change POST, one hook run per
// project) is appended to the journal (<state file>.journal) and fsynced
// before the next part is sent. After a crash the difference between the
// state and the mirror is what was not delivered, minus what the journal
// says was accepted: a restart resends only a part whose acceptance was not
// journalled yet, the one in flight.
type State struct {
	path string
	mu   sync.Mutex
	data stateFile

	journal *os.File
	sent    map[scope]map[string]bool // accepted parts of the current generation
}

// scope is one target's view of one mirror at one generation of its state.
type scope struct {
	Dir    string `json:"d"`
	Target string `json:"t"`
	Gen    uint64 `json:"g"`
}

// journalRecord is one line of the journal.
type journalRecord struct {
	scope
	Key string `json:"k"`
}

type stateFile struct {
	Version int                   `json:"version"`
	Repos   map[string]*repoState `json:"repos"` // key: absolute gitdir
}

type repoState struct {
	URL     string          `json:"url"`
	Targets map[string]Refs `json:"targets"` // key: hook or change-hook name
	// Gen counts the commits of each target's refs, so journal records of
	// an earlier batch never match a later one (even one with the same refs).
	Gen map[string]uint64 `json:"gen,omitempty"`
}

// OpenState reads the state file (or starts empty when it does not exist)
// and its journal, and keeps the journal open for appending.
func OpenState(path string) (*State, error) {
	s := &State{path: path, data: stateFile{Version: 1, Repos: map[string]*repoState{}}, sent: map[scope]map[string]bool{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read poller state: %w", err)
	default:
		if err := json.Unmarshal(b, &s.data); err != nil {
			return nil, fmt.Errorf("parse poller state %s: %w", path, err)
		}
		if s.data.Version != 1 {
			return nil, fmt.Errorf("poller state %s: unknown version %d", path, s.data.Version)
		}
		if s.data.Repos == nil {
			s.data.Repos = map[string]*repoState{}
		}
	}
	if err := s.openJournal(); err != nil {
		return nil, err
	}
	return s, nil
}

// openJournal loads the records of the current generations and rewrites the
// journal with only those (dropping stale ones and a line cut short by a
// crash), then opens it for appending.
func (s *State) openJournal() error {
	jp := s.path + ".journal"
	if err := os.MkdirAll(filepath.Dir(jp), 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	b, err := os.ReadFile(jp)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read poller journal: %w", err)
	}
	var live bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var rec journalRecord
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Key == "" {
			continue // a record cut short by a crash: it was never complete
		}
		if rec.Gen != s.genLocked(rec.Dir, rec.Target) {
			continue // its batch was committed since
		}
		if s.sent[rec.scope] == nil {
			s.sent[rec.scope] = map[string]bool{}
		}
		s.sent[rec.scope][rec.Key] = true
		live.Write(sc.Bytes())
		live.WriteByte('\n')
	}
	if len(b) > 0 || live.Len() > 0 {
		if err := atomicfile.WriteFile(jp, live.Bytes(), 0o644); err != nil {
			return fmt.Errorf("compact poller journal: %w", err)
		}
	}
	f, err := os.OpenFile(jp, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open poller journal: %w", err)
	}
	s.journal = f
	return nil
}

// Close closes the journal.
func (s *State) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal == nil {
		return nil
	}
	err := s.journal.Close()
	s.journal = nil
	return err
}

func (s *State) genLocked(gitdir, target string) uint64 {
	if r := s.data.Repos[gitdir]; r != nil {
		return r.Gen[target]
	}
	return 0
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

// Accepted reports whether part key of the pending batch for target was
// journalled as accepted.
func (s *State) Accepted(gitdir, target, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[scope{gitdir, target, s.genLocked(gitdir, target)}][key]
}

// Accept journals part key of the pending batch for target as accepted,
// durably (fsync) before it returns.
func (s *State) Accept(gitdir, target, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := scope{gitdir, target, s.genLocked(gitdir, target)}
	line, err := json.Marshal(journalRecord{sc, key})
	if err != nil {
		return fmt.Errorf("encode journal record: %w", err)
	}
	if s.journal == nil {
		return errors.New("poller journal is closed")
	}
	if _, err := s.journal.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("append to poller journal: %w", err)
	}
	if err := s.journal.Sync(); err != nil {
		return fmt.Errorf("sync poller journal: %w", err)
	}
	if s.sent[sc] == nil {
		s.sent[sc] = map[string]bool{}
	}
	s.sent[sc][key] = true
	return nil
}

// Commit records refs as delivered to target, starts its next generation
// (the journal records of this batch no longer count) and writes the file.
func (s *State) Commit(gitdir, url, target string, refs Refs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.data.Repos[gitdir]
	if r == nil {
		r = &repoState{Targets: map[string]Refs{}}
		s.data.Repos[gitdir] = r
	}
	if r.Gen == nil {
		r.Gen = map[string]uint64{}
	}
	prevURL := r.URL
	r.URL = redactURL(url)
	prev, had := r.Targets[target]
	gen := r.Gen[target]
	r.Targets[target] = refs.clone()
	r.Gen[target] = gen + 1
	if err := s.saveLocked(); err != nil {
		r.URL = prevURL
		r.Gen[target] = gen
		if had {
			r.Targets[target] = prev
		} else {
			delete(r.Targets, target)
		}
		return err
	}
	delete(s.sent, scope{gitdir, target, gen})
	if len(s.sent) == 0 && s.journal != nil {
		// Nothing pending anywhere: start the journal afresh. Not synced:
		// records that survive a crash here belong to old generations.
		s.journal.Truncate(0)
	}
	return nil
}

func (s *State) saveLocked() error {
	b, err := json.MarshalIndent(&s.data, "", "  ")
	if err != nil {
		return fmt.Errorf("encode poller state: %w", err)
	}
	if err := atomicfile.WriteFile(s.path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save poller state: %w", err)
	}
	return nil
}
