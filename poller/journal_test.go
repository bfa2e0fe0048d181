package poller

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// runTestPoller runs this test binary as `xtpoll -config cfg args...` and
// reports whether it died of SIGKILL. started receives the process.
func runTestPoller(t *testing.T, cfg string, started func(*os.Process), args ...string) (killed bool, out []byte) {
	t.Helper()
	r := &crashRig{t: t, cfg: cfg}
	cmd := r.command(nil, args...)
	var buf safeBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if started != nil {
		started(cmd.Process)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, buf.Bytes()
		}
	}
	if err != nil {
		t.Fatalf("xtpoll %v: %v\n%s", args, err, buf.Bytes())
	}
	return false, buf.Bytes()
}

// TestKillDuringChangePostsResendsAtMostOne kills the poller while the
// master is accepting the third of five changes of one batch. The restarted
// poller must not post the two changes accepted before again: at most the
// one in flight is duplicated.
func TestKillDuringChangePostsResendsAtMostOne(t *testing.T) {
	root := t.TempDir()
	up := filepath.Join(root, "up")
	newUpstream(t, up)
	rcv := newChangeReceiver(t)
	cfg := filepath.Join(root, "xtpoll.toml")
	toml := "basedir = " + tomlString(filepath.Join(root, "mirrors")) +
		"\n[[change_hook]]\nname = 'bb'\nurl = " + tomlString(rcv.URL) + "\nretry_delay = '10ms'\n" +
		"[[repo]]\nurl = " + tomlString(up) + "\n"
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	runTestPoller(t, cfg, nil, "-once")
	var revs []string
	for i := range 5 {
		revs = append(revs, commit(t, up, "change "+string(rune('a'+i)), nil))
	}
	var proc atomic.Pointer[os.Process]
	rcv.mu.Lock()
	rcv.hook = func(n int) {
		if n == 3 {
			proc.Load().Kill() // the master took change 3; the poller dies before the reply
		}
	}
	rcv.mu.Unlock()
	killed, out := runTestPoller(t, cfg, func(p *os.Process) { proc.Store(p) }, "-once")
	if !killed {
		t.Fatalf("poller was not killed during the posts:\n%s", out)
	}
	rcv.mu.Lock()
	rcv.hook = nil
	rcv.mu.Unlock()
	runTestPoller(t, cfg, nil, "-once")
	dups := 0
	for _, rev := range revs {
		switch n := rcv.count("master", rev); {
		case n == 0:
			t.Errorf("change %s lost", rev)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > 1 {
		t.Fatalf("one kill duplicated %d posts, want at most 1 (the one in flight); posts:\n%q", dups, rcv.got())
	}
	t.Logf("posts: %d for %d changes, %d duplicate", len(rcv.got()), len(revs), dups)
}

// safeBuffer is a bytes.Buffer for a subprocess's stdout and stderr.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// TestJournalSurvivesTornRecordAndForgetsCommittedBatches: a record cut short
// by a crash is ignored (the rest is kept), and records of a committed batch
// never count for the next one, even when it has the same refs.
func TestJournalSurvivesTornRecordAndForgetsCommittedBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := OpenState(path)
	if err != nil {
		t.Fatal(err)
	}
	refs := Refs{"refs/heads/master": "a"}
	if err := s.Commit("/m/r.git", "u", "bb", refs); err != nil {
		t.Fatal(err)
	}
	if err := s.Accept("/m/r.git", "bb", "k1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, _ := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"d":"/m/r.git","t":"bb","g":1,"k":"k2`) // torn by a crash
	f.Close()
	if s, err = OpenState(path); err != nil {
		t.Fatal(err)
	}
	if !s.Accepted("/m/r.git", "bb", "k1") || s.Accepted("/m/r.git", "bb", "k2") {
		t.Fatal("journal after a torn record: want k1 only")
	}
	if err := s.Accept("/m/r.git", "bb", "k3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("/m/r.git", "u", "bb", refs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenState(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Accepted("/m/r.git", "bb", "k1") || s.Accepted("/m/r.git", "bb", "k3") {
		t.Fatal("records of a committed batch still count")
	}
}
