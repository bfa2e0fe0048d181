package tpm

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xtbuild/xtbuild/tools/tpm/internal/swtpmtest"
)

// permissionChildEnv makes the test binary act as an unprivileged `xt tpm
// version --json` (see TestMain and TestPermissionDenied).
const permissionChildEnv = "XT_TPM_TEST_PERMISSION_CHILD"

func TestMain(m *testing.M) {
	if dev := os.Getenv(permissionChildEnv); dev != "" {
		os.Exit(Run(context.Background(), []string{"--device", dev, "version", "--json"},
			strings.NewReader(""), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"no command", nil, ExitUsage, "usage: xt tpm"},
		{"unknown command", []string{"frob"}, ExitUsage, `unknown command "frob"`},
		{"help", []string{"help"}, ExitOK, "nvlock check"},
		{"-h", []string{"-h"}, ExitOK, "Exit codes"},
		{"subcommand -h", []string{"version", "-h"}, ExitOK, "usage: xt tpm"},
		{"bad flag", []string{"--bogus", "version"}, ExitUsage, "flag provided but not defined"},
		{"extra argument", []string{"version", "now"}, ExitUsage, `unexpected argument "now"`},
		{"nvlock alone", []string{"nvlock"}, ExitUsage, "want check or fix"},
		{"nvlock unknown", []string{"nvlock", "open"}, ExitUsage, `unknown subcommand "open"`},
		// 2 means "unlocked" for check, so its usage errors exit 1.
		{"check bad flag", []string{"nvlock", "check", "--yes"}, ExitFailure, "flag provided but not defined: -yes"},
		{"fix bad flag", []string{"nvlock", "fix", "--force"}, ExitUsage, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", tc.args...).mustCode(t, tc.code)
			if !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("output lacks %q:\n%s%s", tc.want, r.stdout, r.stderr)
			}
		})
	}
}

// TestNoTPM is a machine without a TPM driver: every command says so and
// points at the tpm_tis force=1 workaround, in text and JSON.
func TestNoTPM(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "tpm0")
	for _, cmd := range [][]string{{"version"}, {"nvinfo"}, {"nvlock", "check"}, {"nvlock", "fix", "--yes"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			r := runCLI(t, "", append(cmd, "--device", missing)...).mustCode(t, ExitFailure)
			if !strings.Contains(r.stderr, "no TPM") || !strings.Contains(r.stderr, "modprobe tpm_tis force=1 interrupts=0") {
				t.Errorf("stderr:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("text mode wrote to stdout: %q", r.stdout)
			}
			var fail errorReport
			runCLI(t, "", append(cmd, "--json", "--device", missing)...).mustCode(t, ExitFailure).decode(t, &fail)
			if fail.Kind != "no-tpm" || fail.Device != missing || !strings.Contains(fail.Advice, "force=1") {
				t.Errorf("json: %+v", fail)
			}
		})
	}
}

// TestGarbageAnswer: a socket that answers with something that is not a
// TPM frame (a stand-in HTTP server) is reported as not a TPM.
func TestGarbageAnswer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "http.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.ReadAtLeast(c, make([]byte, 64), 10)
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			c.Close()
		}
	}()
	var fail errorReport
	runCLI(t, "", "version", "--json", "--device", "unix:"+sock).mustCode(t, ExitFailure).decode(t, &fail)
	if fail.Kind != "not-a-tpm" {
		t.Errorf("report = %+v", fail)
	}
}

// TestPermissionDenied: a real swtpm socket the user may not open. As root
// (CI containers) the check runs in a copy of this test binary under uid
// nobody, since root bypasses file modes.
func TestPermissionDenied(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{})
	var out []byte
	var code int
	if os.Geteuid() != 0 {
		if err := os.Chmod(s.Socket, 0); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "", "--device", s.Device, "version", "--json")
		out, code = []byte(r.stdout), r.code
	} else {
		// Everything on the way must be reachable by nobody except the socket.
		for _, dir := range []string{filepath.Dir(s.Dir), s.Dir} {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(s.Socket, 0o600); err != nil {
			t.Fatal(err)
		}
		bin := copyTestBinary(t)
		cmd := exec.Command(bin)
		cmd.Dir = filepath.Dir(bin)
		cmd.Env = append(os.Environ(), permissionChildEnv+"="+s.Device)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		var err error
		out, err = cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run as nobody: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "mode=0660") {
			t.Errorf("stderr lacks advice:\n%s", stderr.String())
		}
	}
	var fail errorReport
	if err := json.Unmarshal(out, &fail); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if code != ExitFailure || fail.Kind != "permission-denied" {
		t.Errorf("exit %d, report %+v", code, fail)
	}
}

// copyTestBinary puts this test binary where uid nobody can run it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "xt-tpm-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "tpm.test")
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestDebugLogsTraffic: --debug shows each exchange's headers on stderr.
func TestDebugLogsTraffic(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{TPM2: true})
	r := runCLI(t, "", "version", "--debug", "--device", s.Device).mustCode(t, ExitOK)
	// The family probe is TPM2_GetCapability: 8001 00000016 0000017a.
	if !strings.Contains(r.stderr, "command=80010000001600000017a") && !strings.Contains(r.stderr, "command=800100000016") {
		t.Errorf("stderr lacks the probe:\n%s", r.stderr)
	}
	if strings.Count(r.stderr, "tpm exchange") < 3 {
		t.Errorf("want a line per exchange:\n%s", r.stderr)
	}
}

// TestCancelledContext: an interrupted run reports the interruption.
func TestCancelledContext(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{TPM2: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb strings.Builder
	if code := Run(ctx, []string{"version", "--json", "--device", s.Device}, strings.NewReader(""), &out, &errb); code != ExitFailure {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	var fail errorReport
	if err := json.Unmarshal([]byte(out.String()), &fail); err != nil || fail.Kind != "interrupted" {
		t.Errorf("report %+v (%v), stderr: %s", fail, err, errb.String())
	}
}
