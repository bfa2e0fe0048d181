package pipeline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/steps"
)

// machines lists the build invocations as "MACHINE args"; the `bitbake -g`
// run after each step's build (its task graph) is left out.
func machines(calls []map[string]any) []string {
	var out []string
	for _, c := range calls {
		args, _ := c["args"].([]any)
		if len(args) > 0 && args[0] == "-g" {
			continue
		}
		var s []string
		for _, a := range args {
			s = append(s, a.(string))
		}
		out = append(out, c["machine"].(string)+" "+strings.Join(s, " "))
	}
	return out
}

// The stand-in bitbake checks the environment and conf the runner gives it.
func TestBuildWithStandInBitbakeRunsDependenciesFirst(t *testing.T) {
	w := newWorld(t, "")
	res, err := Run(context.Background(), w.Env(config.Options{}))
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	got := strings.Join(machines(w.Calls()), "\n")
	want := strings.Join([]string{
		"xenclient-stubdomain xenclient-stubdomain-initramfs-image",
		"xenclient-dom0 xenclient-dom0-image",
		"openxt-installer xenclient-installer-image",
	}, "\n")
	if got != want {
		t.Errorf("bitbake calls:\n%s\nwant:\n%s", got, want)
	}
	var names []string
	for _, r := range res {
		names = append(names, r.Step+"="+r.Status)
	}
	if strings.Join(names, " ") != "setupoe=ok stubinitramfs=ok dom0=ok installer=ok" {
		t.Errorf("results %v", names)
	}
	for _, f := range []string{"raw/dom0-rootfs.ext3.gz", "raw/installer/rootfs.cpio.gz", "raw/installer/vmlinuz", "raw/installer/xen.gz",
		"raw/installer/gm45.acm", "raw/control.tar.bz2", "raw/installer/iso/isolinux.cfg", "raw/installer/netboot/pxelinux.cfg", "logs/dom0.log", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(w.OutDir(), f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	// buildstats of each step are kept with the build for the report, and
	// so is its task graph.
	if m, _ := filepath.Glob(filepath.Join(w.OutDir(), "buildstats", "dom0", "*", "xenclient-dom0-image-1.0-r0", "do_rootfs")); len(m) != 1 {
		t.Errorf("dom0 buildstats not kept: %v", m)
	}
	if _, err := os.Stat(steps.TaskGraphPath(w.OutDir(), "dom0")); err != nil {
		t.Errorf("dom0 task graph not kept: %v", err)
	}
	if strings.Contains(w.Out.String(), "\x1b") {
		t.Error("escape codes in non-TTY output")
	}
	for _, want := range []string{"[dom0] MACHINE=xenclient-dom0 ", "NOTE: Running task 1 of 3", "STEP", "dom0           ok"} {
		if !strings.Contains(w.Out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, w.Out)
		}
	}
}

// Manifest hashes must agree with coreutils sha256sum on the same files.
func TestManifestMatchesSha256sum(t *testing.T) {
	w := newWorld(t, "")
	if _, err := Run(context.Background(), w.Env(config.Options{})); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(filepath.Join(w.OutDir(), manifest.File))
	if err != nil || len(m.Artifacts) < 5 {
		t.Fatalf("manifest %+v %v", m, err)
	}
	if m.Name != "openxt-dev-42-master" || m.ConfigHash == "" || m.LockHash == "" {
		t.Errorf("manifest header %+v", m)
	}
	var args []string
	for _, a := range m.Artifacts {
		args = append(args, a.Path)
	}
	cmd := exec.Command("sha256sum", args...)
	cmd.Dir = w.OutDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		a := m.Artifacts[i]
		st, _ := os.Stat(filepath.Join(w.OutDir(), a.Path))
		if f[0] != a.SHA256 || f[1] != a.Path || st.Size() != a.Size {
			t.Errorf("%s: manifest %s/%d, sha256sum %s, size %d", a.Path, a.SHA256, a.Size, f[0], st.Size())
		}
		if a.Step == "" || (a.Step == "dom0" && a.Machine != "xenclient-dom0") {
			t.Errorf("%s: step %q machine %q", a.Path, a.Step, a.Machine)
		}
	}
}

func TestResumeAfterFailingStep(t *testing.T) {
	w := newWorld(t, "")
	t.Setenv("XTBUILD_FAKE_FAIL", "xenclient-dom0-image:do_rootfs")
	res, err := Run(context.Background(), w.Env(config.Options{}))
	var se *steps.StepError
	if !errors.As(err, &se) || se.Step != "dom0" || exitcode.Of(err) != 1 {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "task xenclient-dom0-image.bb:do_rootfs failed (log: ") || !strings.Contains(err.Error(), "logs/dom0.log") {
		t.Errorf("error does not name task and log: %v", err)
	}
	if res[2].Status != "failed" || res[3].Status != "not run" {
		t.Errorf("results %+v", res)
	}
	before := len(w.Calls())
	t.Setenv("XTBUILD_FAKE_FAIL", "")
	res, err = Run(context.Background(), w.Env(config.Options{}))
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	again := machines(w.Calls()[before:])
	if strings.Join(again, ",") != "xenclient-dom0 xenclient-dom0-image,openxt-installer xenclient-installer-image" {
		t.Errorf("resume ran %v", again)
	}
	if res[1].Status != "done earlier" {
		t.Errorf("results %+v", res)
	}
	// XTBUILD_FORCE rebuilds everything.
	before = len(w.Calls())
	if _, err := Run(context.Background(), w.Env(config.Options{Force: true})); err != nil {
		t.Fatal(err)
	}
	if n := len(machines(w.Calls()[before:])); n != 3 {
		t.Errorf("forced build ran bitbake %d times", n)
	}
	// A config change invalidates the stamps.
	f := filepath.Join(w.Work, "xtbuild.toml")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, []byte(strings.Replace(string(data), "[build]\n", "[build]\nthreads = 3\n", 1)), 0o644)
	before = len(w.Calls())
	if _, err := Run(context.Background(), w.Env(config.Options{})); err != nil {
		t.Fatal(err)
	}
	if n := len(machines(w.Calls()[before:])); n != 3 {
		t.Errorf("after config change bitbake ran %d times", n)
	}
}

func TestInterruptIsPassedToBitbake(t *testing.T) {
	w := newWorld(t, "")
	t.Setenv("XTBUILD_FAKE_TASK_MS", "400")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the first bitbake task is running.
		for i := 0; i < 200; i++ {
			data, _ := os.ReadFile(filepath.Join(w.OutDir(), "logs", "stubinitramfs.log"))
			if strings.Contains(string(data), "Running task 1 of") {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		cancel()
	}()
	res, err := Run(ctx, w.Env(config.Options{}))
	if err == nil || exitcode.Of(err) != exitcode.Interrupted {
		t.Fatalf("error %v (exit %d)", err, exitcode.Of(err))
	}
	calls := w.Calls()
	if len(calls) != 1 || calls[0]["interrupts"].(float64) != 1 {
		t.Fatalf("bitbake got %v", calls)
	}
	log, _ := os.ReadFile(filepath.Join(w.OutDir(), "logs", "stubinitramfs.log"))
	if !strings.Contains(string(log), "Keyboard Interrupt, closing down...") || !strings.Contains(string(log), "# bitbake exited with code 1") {
		t.Errorf("log:\n%s", log)
	}
	if res[1].Status != "interrupted" {
		t.Errorf("results %+v", res)
	}
}

func TestConcurrentBuildIsRefused(t *testing.T) {
	w := newWorld(t, "")
	e := w.Env(config.Options{})
	lk, err := buildlock.Acquire(e.Config.BuildDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	_, err = Run(context.Background(), e)
	if !errors.Is(err, buildlock.ErrLocked) || !strings.Contains(err.Error(), "held by pid") {
		t.Fatalf("error = %v", err)
	}
	if len(w.Calls()) != 0 {
		t.Error("bitbake ran despite the lock")
	}
}

// With BB_SERVER_TIMEOUT the server outlives each step: later steps and
// each step's `bitbake -g` reuse the parse cache, and the build stops the
// server at the end.
func TestMemoryResidentServerIsReused(t *testing.T) {
	w := newWorld(t, "")
	data, _ := os.ReadFile(filepath.Join(w.Work, "xtbuild.toml"))
	os.WriteFile(filepath.Join(w.Work, "xtbuild.toml"), []byte(strings.Replace(string(data), "server_timeout = 0", "server_timeout = 60", 1)), 0o644)
	if _, err := Run(context.Background(), w.Env(config.Options{})); err != nil {
		t.Fatal(err)
	}
	calls := w.Calls()
	if len(calls) != 7 {
		t.Fatalf("calls %v", calls)
	}
	for i, c := range calls[:6] {
		if c["server_timeout"] != "60" {
			t.Errorf("call %d: BB_SERVER_TIMEOUT %v", i, c["server_timeout"])
		}
		if parsed := c["parsed"].(float64); (i == 0) != (parsed > 0) {
			t.Errorf("call %d parsed %v recipes", i, parsed)
		}
		if args := c["args"].([]any); (i%2 == 1) != (args[0] == "-g") {
			t.Errorf("call %d: %v, want each build followed by its -g", i, args)
		}
	}
	if last := calls[6]["args"].([]any); len(last) != 1 || last[0] != "-m" {
		t.Errorf("server not stopped: %v", calls[6])
	}
}

func TestCopyOnlyRunsNoBitbake(t *testing.T) {
	w := newWorld(t, "")
	if _, err := Run(context.Background(), w.Env(config.Options{})); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(w.OutDir(), "raw"))
	before := len(w.Calls())
	if _, err := Run(context.Background(), w.Env(config.Options{CopyOnly: true, Force: true}), "dom0"); err != nil {
		t.Fatal(err)
	}
	if len(w.Calls()) != before {
		t.Error("copy-only ran bitbake")
	}
	if _, err := os.Stat(filepath.Join(w.OutDir(), "raw", "dom0-rootfs.ext3.gz")); err != nil {
		t.Error(err)
	}
}

func TestUnknownStep(t *testing.T) {
	w := newWorld(t, "")
	_, err := Run(context.Background(), w.Env(config.Options{}), "dom1")
	if err == nil || exitcode.Of(err) != 2 || !strings.Contains(err.Error(), `unknown step "dom1" (known steps: copy, dom0,`) {
		t.Fatalf("error = %v", err)
	}
}

// A second Ctrl-C stops harder, as with plain bitbake: the runner passes
// the second SIGINT on ("Second Keyboard Interrupt, stopping...") instead
// of waiting for the running task to end.
func TestSecondInterruptIsPassedToBitbake(t *testing.T) {
	w := newWorld(t, "")
	t.Setenv("XTBUILD_FAKE_TASK_MS", "4000")
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan struct{})
	ctx = steps.WithSecondInterrupt(ctx, second)
	logFile := filepath.Join(w.OutDir(), "logs", "stubinitramfs.log")
	waitLog := func(want string) {
		for i := 0; i < 400; i++ {
			if data, _ := os.ReadFile(logFile); strings.Contains(string(data), want) {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	taskStarted := make(chan time.Time, 1)
	go func() {
		waitLog("Running task 1 of")
		taskStarted <- time.Now()
		cancel()
		// The second interrupt only once bitbake has answered the first:
		// two SIGINTs sent at once may arrive as one.
		waitLog("Keyboard Interrupt, closing down")
		close(second)
	}()
	_, err := Run(ctx, w.Env(config.Options{}))
	ended := time.Now()
	if exitcode.Of(err) != exitcode.Interrupted {
		t.Fatalf("error %v", err)
	}
	calls := w.Calls()
	if len(calls) != 1 || calls[0]["interrupts"].(float64) != 2 {
		t.Fatalf("bitbake got %v", calls)
	}
	log, _ := os.ReadFile(filepath.Join(w.OutDir(), "logs", "stubinitramfs.log"))
	if !strings.Contains(string(log), "Second Keyboard Interrupt, stopping...") {
		t.Errorf("log:\n%s", log)
	}
	// The 4 s task started at most 25 ms before taskStarted; ending well
	// before it would have finished shows it was not waited for.
	select {
	case t0 := <-taskStarted:
		if d := ended.Sub(t0); d > 3500*time.Millisecond {
			t.Errorf("build ended %s after its 4 s task started, despite a second interrupt: the task was waited for", d)
		}
	default:
		t.Fatal("the build ended before its first task was seen running")
	}
}

// A step's stamp holds whether it was asked for or pulled in as a
// dependency: `step stubinitramfs` then `step dom0` builds stubinitramfs
// once (buildbot runs step targets one by one; stage:get stamps restored
// steps under yet another request).
func TestStampDoesNotDependOnWhatWasRequested(t *testing.T) {
	w := newWorld(t, "")
	if _, err := Run(context.Background(), w.Env(config.Options{}), "stubinitramfs"); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	res, err := Run(context.Background(), w.Env(config.Options{}), "dom0")
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.Step+"="+r.Status)
	}
	if strings.Join(got, " ") != "setupoe=ok stubinitramfs=done earlier dom0=ok" {
		t.Errorf("second run: %v", got)
	}
	if n := len(w.Builds()); n != 2 {
		t.Errorf("bitbake ran %d builds for two images", n)
	}
}
