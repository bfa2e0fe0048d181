package poller

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashRig is a poller config run as a separate process (this test binary
// re-executed as xtpoll), with a hook that can SIGKILL that process before
// or after it records the events: a real crash at the two interesting points.
type crashRig struct {
	t                       *testing.T
	root, up, cfg, log      string
	crashBefore, crashAfter string
}

func newCrashRig(t *testing.T, interval string) *crashRig {
	root := t.TempDir()
	r := &crashRig{t: t, root: root, up: filepath.Join(root, "up"), cfg: filepath.Join(root, "xtpoll.toml"),
		log: filepath.Join(root, "hook.log"), crashBefore: filepath.Join(root, "crash-before"), crashAfter: filepath.Join(root, "crash-after")}
	newUpstream(t, r.up)
	hook := filepath.Join(root, "hook.sh")
	script := `#!/bin/sh
# $PPID is the poller: killing it is a crash at this exact point.
if [ -e ` + shellQuote(r.crashBefore) + ` ]; then rm ` + shellQuote(r.crashBefore) + `; kill -9 $PPID; sleep 1; exit 1; fi
touch ` + shellQuote(filepath.Join(root, "hook-started")) + `
sleep "${HOOK_SLEEP:-0}"
cat >> ` + shellQuote(r.log) + `
if [ -e ` + shellQuote(r.crashAfter) + ` ]; then rm ` + shellQuote(r.crashAfter) + `; kill -9 $PPID; sleep 1; fi
exit 0
`
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := "basedir = " + tomlString(filepath.Join(root, "mirrors")) + "\npoll_interval = " + tomlString(interval) +
		"\n[[hook]]\nname = 'h'\ncommand = [" + tomlString(hook) + "]\nretry_delay = '10ms'\n[[repo]]\nurl = " + tomlString(r.up) + "\n"
	if err := os.WriteFile(r.cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func tomlString(s string) string { b, _ := json.Marshal(s); return string(b) }

func (r *crashRig) command(extraEnv []string, args ...string) *exec.Cmd {
	argv, _ := json.Marshal(append([]string{"-config", r.cfg, "-log-level", "debug"}, args...))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append(extraEnv, "XTPOLL_TEST_MAIN_ARGS="+string(argv))...)
	return cmd
}

// once runs `xtpoll -once` and reports whether it was SIGKILLed.
func (r *crashRig) once() (killed bool) {
	r.t.Helper()
	out, err := r.command(nil, "-once").CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		r.t.Fatalf("xtpoll -once: %v\n%s", err, out)
	}
	return false
}

func (r *crashRig) count(rev string) int {
	return strings.Count(strings.Join(readLines(r.t, r.log), "\n"), " "+rev+" refs/heads/master")
}

func touch(t *testing.T, p string) {
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCrashAndRestart(t *testing.T) {
	r := newCrashRig(t, "5m")
	if r.once() {
		t.Fatal("baseline run was killed")
	}

	// Crash after the fetch, before the hook delivered anything: the
	// restarted poller delivers the event exactly once.
	c1 := commit(t, r.up, "one", nil)
	touch(t, r.crashBefore)
	if !r.once() {
		t.Fatal("poller was not killed before delivery")
	}
	if n := r.count(c1); n != 0 {
		t.Fatalf("event recorded %d times before restart", n)
	}
	if r.once() {
		t.Fatal("restart killed")
	}
	if n := r.count(c1); n != 1 {
		t.Fatalf("crash before delivery: event delivered %d times, want exactly 1", n)
	}

	// A restart after a completed cycle re-sends nothing.
	r.once()
	if n := r.count(c1); n != 1 {
		t.Fatalf("restart after a clean cycle re-sent: %d", n)
	}

	// The documented at-least-once boundary: a crash after the hook took the
	// events but before the state was saved re-sends them once on restart.
	c2 := commit(t, r.up, "two", nil)
	touch(t, r.crashAfter)
	if !r.once() {
		t.Fatal("poller was not killed after delivery")
	}
	if n := r.count(c2); n != 1 {
		t.Fatalf("event recorded %d times before the crash", n)
	}
	r.once()
	if n := r.count(c2); n != 2 {
		t.Fatalf("crash between delivery and save: %d deliveries, want 2 (at-least-once, never lost)", n)
	}
	r.once()
	c3 := commit(t, r.up, "three", nil)
	r.once()
	if n, m := r.count(c2), r.count(c3); n != 2 || m != 1 {
		t.Fatalf("after recovery: c2 %d (want 2), c3 %d (want 1)", n, m)
	}
}

// TestSIGTERMFinishesDelivery stops the daemon while a hook is running: the
// hook finishes, the state is saved, the exit is clean and a restart sends
// nothing twice.
func TestSIGTERMFinishesDelivery(t *testing.T) {
	r := newCrashRig(t, "100ms")
	r.once()
	c1 := commit(t, r.up, "one", nil)
	cmd := r.command([]string{"HOOK_SLEEP=1"})
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the hook is running (it sleeps 1 s before recording).
	deadline := time.Now().Add(10 * time.Second)
	for !exists(filepath.Join(r.root, "hook-started")) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("hook never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, out.String())
	}
	if n := r.count(c1); n != 1 {
		t.Fatalf("delivered %d times before stop, want 1\n%s", n, out.String())
	}
	r.once()
	if n := r.count(c1); n != 1 {
		t.Fatalf("restart re-sent the event: %d", n)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
