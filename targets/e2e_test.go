package targets

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/internal/standin"
)

// These tests compile the Mage targets the way buildbot workers do
// (`go run mage.go -compile`) and run the binary as a user would.

var bin, fakeBitbake string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xtbuild-targets-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "xtbuild")
	cmd := exec.Command("go", "run", "mage.go", "-compile", bin)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "compile targets: %v\n%s", err, out)
		os.Exit(1)
	}
	if fakeBitbake, err = standin.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runBin(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestPlanWithoutConfigFile(t *testing.T) {
	out, errOut, code := runBin(t, t.TempDir(), nil, "plan")
	if code != 0 || !strings.Contains(out, "build openxt-dev--master") || !strings.Contains(out, "MACHINE=xenclient-dom0 bitbake xenclient-dom0-image") {
		t.Fatalf("code %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "\x1b") {
		t.Error("escape codes without a TTY")
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "xtbuild.toml"), []byte("[build]\nbranhc = \"x\"\n"), 0o644)
	_, errOut, code := runBin(t, dir, nil, "plan")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 2 || !strings.Contains(lines[len(lines)-1], `xtbuild.toml:2: build.branhc: unknown key (did you mean "branch"?)`) {
		t.Errorf("bad config: code %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = runBin(t, t.TempDir(), nil, "step", "dom1")
	if code != 2 || !strings.Contains(errOut, `unknown step "dom1" (known steps:`) {
		t.Errorf("unknown step: code %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = runBin(t, t.TempDir(), []string{"XTBUILD_LOCKED=maybe"}, "plan")
	if code != 2 || !strings.Contains(errOut, "XTBUILD_LOCKED: not a boolean") {
		t.Errorf("bad option: code %d, stderr:\n%s", code, errOut)
	}
}

// A real SIGINT to the compiled targets reaches bitbake exactly once, the
// build waits for bitbake to stop, and the exit code says "interrupted".
func TestSIGINTStopsBitbakeCleanly(t *testing.T) {
	root := t.TempDir()
	bb := standin.BitbakeRepo(t, filepath.Join(root, "up", "bitbake"))
	layer := gittest.New(t, filepath.Join(root, "up", "meta"), "master")
	layer.Commit("recipes/xenclient-stubdomain-initramfs-image.bb", "IMAGE_FSTYPES = \"cpio.gz\"\n", "image")
	work := filepath.Join(root, "work")
	os.MkdirAll(filepath.Join(work, "certs"), 0o755)
	os.WriteFile(filepath.Join(work, "certs", "prod-cacert.pem"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(work, "certs", "dev-cacert.pem"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(work, "xtbuild.toml"), []byte(fmt.Sprintf(`[build]
steps = ["stubinitramfs"]
server_timeout = 0
release = "scarthgap"
oe_branch = "scarthgap"
bitbake_branch = "2.8"
[paths]
deploy_dir = ""
[[layer]]
name = "bitbake"
url = %q
kind = "bitbake"
sublayers = []
[[layer]]
name = "meta"
url = %q
kind = "openxt"
sublayers = ["."]
`, bb.Dir, layer.Dir)), 0o644)
	record := filepath.Join(root, "calls.jsonl")
	cmd := exec.Command(bin, "build")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "XTBUILD_FAKE_BITBAKE="+fakeBitbake, "XTBUILD_FAKE_RECORD="+record, "XTBUILD_FAKE_TASK_MS=1500")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(work, "build-output", "openxt-dev--master", "logs", "stubinitramfs.log")
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _ := os.ReadFile(logPath)
		if strings.Contains(string(data), "Running task 1 of") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("bitbake never started:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d, want 130\n%s", code, out.String())
	}
	calls, _ := os.ReadFile(record)
	if !strings.Contains(string(calls), `"interrupts":1`) {
		t.Errorf("bitbake did not get exactly one SIGINT: %s", calls)
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "Keyboard Interrupt, closing down...") || !strings.Contains(string(log), "# bitbake exited with code 1") {
		t.Errorf("log:\n%s", log)
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("last lines do not say interrupted:\n%s", out.String())
	}
}

// setupoe rewrites conf and moves layers: it must not run while another
// xtbuild (a build, another setupoe) holds the build dir.
func TestSetupoeTakesTheBuildDirLock(t *testing.T) {
	root := t.TempDir()
	layer := gittest.New(t, filepath.Join(root, "up", "meta"), "master")
	work := filepath.Join(root, "work")
	os.MkdirAll(filepath.Join(work, "certs"), 0o755)
	os.WriteFile(filepath.Join(work, "certs", "prod-cacert.pem"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(work, "certs", "dev-cacert.pem"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(work, "xtbuild.toml"), []byte(fmt.Sprintf("[[layer]]\nname = \"meta\"\nurl = %q\nkind = \"openxt\"\nsublayers = [\".\"]\n", layer.Dir)), 0o644)
	lk, err := buildlock.Acquire(filepath.Join(work, "build"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runBin(t, work, nil, "setupoe")
	if code == 0 || !strings.Contains(errOut, "locked by another xtbuild") {
		t.Fatalf("setupoe under a held build-dir lock: code %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(work, "build", "repos", "meta")); !os.IsNotExist(err) {
		t.Error("setupoe touched the layers while the build dir was locked")
	}
	lk.Unlock()
	if out, errOut, code := runBin(t, work, nil, "setupoe"); code != 0 {
		t.Fatalf("setupoe after unlock: code %d\n%s%s", code, out, errOut)
	}
}
