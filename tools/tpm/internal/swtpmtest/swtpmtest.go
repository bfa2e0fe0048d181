// Package swtpmtest starts a real swtpm (TPM 1.2 or 2.0 emulator) on a
// Unix socket for tests, and stops it when the test ends.
//
// Tests that need it must not be skipped in CI: Require goes through
// internal/testenv (missing under CI=true fails, elsewhere skips).
package swtpmtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/tools/internal/testenv"
)

// Options choose how swtpm comes up.
type Options struct {
	// TPM2 runs swtpm --tpm2; otherwise it emulates a TPM 1.2.
	TPM2 bool
	// NoStartup leaves out startup-clear, so the TPM is initialised but has
	// not received TPM_Startup (like a board whose BIOS ignores the TPM).
	NoStartup bool
}

// SWTPM is a running emulator.
type SWTPM struct {
	// Dir holds the state, the socket and swtpm's log.
	Dir string
	// Socket is the command socket; Device is it as a --device value.
	Socket, Device string
	cmd            *exec.Cmd
	done           chan error
}

// Require returns swtpm's path, or stops the test as testenv.Missing does.
func Require(t testing.TB) string {
	t.Helper()
	return testenv.LookPath(t, "swtpm", "swtpm swtpm-tools")
}

// sunPathMax is the room for a socket path in sockaddr_un (108 with NUL).
const sunPathMax = 107

// Start launches swtpm in a fresh state directory. A fresh state matters:
// nvLocked is permanent and survives restarts of the same state.
func Start(t testing.TB, opt Options) *SWTPM {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	if len(filepath.Join(dir, "tpm.sock")) > sunPathMax {
		// Long test names make long temp dirs; a socket path must be short.
		d, err := os.MkdirTemp("", "swtpm")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	s := &SWTPM{Dir: dir, Socket: filepath.Join(dir, "tpm.sock"), done: make(chan error, 1)}
	s.Device = "unix:" + s.Socket
	flags := "not-need-init,startup-clear"
	if opt.NoStartup {
		flags = "not-need-init"
	}
	args := []string{"socket",
		"--tpmstate", "dir=" + dir,
		"--server", "type=unixio,path=" + s.Socket,
		"--ctrl", "type=unixio,path=" + filepath.Join(dir, "ctrl.sock"),
		"--flags", flags,
		"--log", "file=" + filepath.Join(dir, "log") + ",level=1",
	}
	if opt.TPM2 {
		args = append(args, "--tpm2")
	}
	s.cmd = exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop swtpm: %v\n%s", err, s.Log())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The socket file appears before swtpm listens; a test connection
		// (closed without a command, which swtpm takes in its stride) tells.
		if c, err := net.Dial("unix", s.Socket); err == nil {
			c.Close()
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("swtpm exited before listening: %v\n%s", err, s.Log())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("swtpm did not create %s within 10s\n%s", s.Socket, s.Log())
		}
	}
}

// Stop ends swtpm with SIGTERM (it saves state and removes its socket) and
// waits for it; it kills after 5 s. Stopping twice is fine.
func (s *SWTPM) Stop() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal swtpm: %w", err)
	}
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Exited() {
			return fmt.Errorf("swtpm exited with %w", err)
		}
		return nil
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("swtpm ignored SIGTERM for 5s; killed")
	}
}

// Log returns swtpm's log and output, for failure messages.
func (s *SWTPM) Log() string {
	var out []byte
	for _, name := range []string{"log", "stdout"} {
		b, _ := os.ReadFile(filepath.Join(s.Dir, name))
		out = append(out, b...)
	}
	return string(out)
}
