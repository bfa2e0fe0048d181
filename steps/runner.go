package steps

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/plan"
)

// ShutdownGrace is how long bitbake gets to stop after SIGINT (it finishes
// or kills running tasks and writes its caches) before it is killed.
var ShutdownGrace = 10 * time.Minute

// StepError is a failed bitbake invocation.
type StepError struct {
	Step     string
	ExitCode int
	Reason   string // the failing task and its log, or bitbake's error
	Log      string // the step's full log
}

func (e *StepError) Error() string {
	s := fmt.Sprintf("step %s failed (bitbake exit code %d)", e.Step, e.ExitCode)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s + "; full output in " + e.Log
}

// bitbakeEnv is the environment of every bitbake run: the caller's, plus
// MACHINE, the passthrough list BitBake needs to let MACHINE in, a UTF-8
// locale, BUILDDIR, BB_SERVER_TIMEOUT, and BitBake's and oe-core's script
// dirs first on PATH (what OpenXT's build/bb wrapper did).
func bitbakeEnv(c *config.Config, step plan.Step, base []string) []string {
	env := map[string]string{}
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, v := range step.Env {
		env[k] = v
	}
	// BB_ENV_EXTRAWHITE before BitBake 2.0, BB_ENV_PASSTHROUGH_ADDITIONS since.
	passName := c.ReleaseInfo().EnvPassthrough
	pass := strings.Fields(env[passName])
	for _, v := range []string{"MACHINE", "BUILD_UID", "SOURCE_DATE_EPOCH"} {
		if !containsStr(pass, v) {
			pass = append(pass, v)
		}
	}
	env[passName] = strings.Join(pass, " ")
	env["BUILD_UID"] = strconv.Itoa(os.Getuid())
	if !utf8Locale(env["LC_ALL"]) && !utf8Locale(env["LANG"]) {
		env["LANG"] = "en_US.UTF-8"
	}
	if env["LC_ALL"] != "" && !utf8Locale(env["LC_ALL"]) {
		env["LC_ALL"] = "en_US.UTF-8"
	}
	env["BUILDDIR"] = c.BuildDir()
	if c.Build.ServerTimeout > 0 {
		env["BB_SERVER_TIMEOUT"] = strconv.Itoa(c.Build.ServerTimeout)
	} else {
		delete(env, "BB_SERVER_TIMEOUT")
	}
	var path []string
	for _, l := range c.Layers {
		switch l.Kind {
		case "bitbake":
			path = append(path, filepath.Join(c.LayerDir(l), "bin"))
		}
		if l.Name == "openembedded-core" || l.Name == "poky" {
			path = append(path, filepath.Join(c.LayerDir(l), "scripts"))
		}
	}
	if env["PATH"] != "" {
		path = append(path, env["PATH"])
	}
	env["PATH"] = strings.Join(path, string(os.PathListSeparator))
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func utf8Locale(l string) bool {
	l = strings.ToLower(l)
	return strings.HasSuffix(l, ".utf-8") || strings.HasSuffix(l, ".utf8")
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lookBitbake finds the bitbake executable on the run's PATH.
func lookBitbake(env []string) (string, error) {
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range filepath.SplitList(p) {
				f := filepath.Join(dir, "bitbake")
				if st, err := os.Stat(f); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
					return f, nil
				}
			}
		}
	}
	return "", errors.New("bitbake not found: run setupoe first (it clones the bitbake repository), or put bitbake on PATH")
}

// runBitbake runs one bitbake invocation from the build dir. Output goes
// line by line to the step log, to the terminal (every line without a TTY;
// warnings and errors plus a live progress line with one) and to the
// progress parser. Cancelling ctx sends bitbake one SIGINT and waits for
// it to shut down cleanly; a second interrupt (WithSecondInterrupt) is
// passed on, and bitbake is killed if it then does not stop.
func runBitbake(ctx context.Context, e *Env, step plan.Step, args []string, logw io.Writer, logPath string) (*Progress, error) {
	c := e.Config
	env := bitbakeEnv(c, step, os.Environ())
	bb, err := lookBitbake(env)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bb, args[1:]...)
	cmd.Dir = c.BuildDir()
	cmd.Env = env
	cmd.Stdin = nil // /dev/null, as OpenXT ran it
	// Own process group: a terminal Ctrl-C reaches only us, and we pass
	// exactly one SIGINT on (a second one makes bitbake abort hard).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = ShutdownGrace
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw

	line := fmt.Sprintf("MACHINE=%s %s", step.Machine, strings.Join(append([]string{bb}, args[1:]...), " "))
	e.Log.Info("run bitbake", "step", step.Name, "dir", cmd.Dir, "machine", step.Machine, "argv", append([]string{bb}, args[1:]...))
	fmt.Fprintf(logw, "# %s: %s (in %s)\n", time.Now().UTC().Format(time.RFC3339), line, cmd.Dir)
	e.Term.Printf("[%s] %s", step.Name, line)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start bitbake: %w", err)
	}
	pw.Close()
	exited := make(chan struct{})
	go forwardSecondInterrupt(ctx, cmd.Process.Pid, exited)
	prog := &Progress{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			l := sc.Text()
			now := time.Now()
			fmt.Fprintln(logw, l)
			prog.Feed(l, now)
			switch {
			case !e.Term.IsTTY():
				e.Term.Printf("%s", l)
			case strings.HasPrefix(l, "ERROR:") || strings.HasPrefix(l, "WARNING:") || strings.HasPrefix(l, "Summary:"):
				e.Term.Printf("[%s] %s", step.Name, l)
			}
			e.Term.SetStatus(prog.Line(step.Name, now, now.Sub(start)))
		}
	}()
	waitErr := cmd.Wait()
	close(exited)
	<-done
	pr.Close()
	e.Term.Done()
	code := cmd.ProcessState.ExitCode()
	fmt.Fprintf(logw, "# bitbake exited with code %d after %s\n", code, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		return prog, fmt.Errorf("step %s: bitbake stopped after interrupt (exit code %d): %w", step.Name, code, ctx.Err())
	}
	if waitErr != nil {
		var exitErr *exec.ExitError
		if !errors.As(waitErr, &exitErr) {
			return prog, fmt.Errorf("step %s: bitbake: %w", step.Name, waitErr)
		}
		return prog, &StepError{Step: step.Name, ExitCode: code, Reason: prog.Reason(), Log: logPath}
	}
	return prog, nil
}

// StopServer ends a memory-resident bitbake server left by BB_SERVER_TIMEOUT.
func StopServer(ctx context.Context, e *Env) {
	c := e.Config
	env := bitbakeEnv(c, plan.Step{}, os.Environ())
	bb, err := lookBitbake(env)
	if err != nil {
		return
	}
	cmd := exec.CommandContext(ctx, bb, "-m")
	cmd.Dir, cmd.Env = c.BuildDir(), env
	e.Log.Info("stop bitbake server", "argv", []string{bb, "-m"})
	if out, err := cmd.CombinedOutput(); err != nil {
		e.Log.Warn("bitbake -m", "err", err, "output", string(out))
	}
}

type secondKey struct{}

// WithSecondInterrupt attaches the channel a caller closes on a second
// Ctrl-C. Cancelling ctx sends bitbake one SIGINT (it finishes the running
// tasks and shuts down cleanly); closing second then sends the second one,
// as a terminal would, and bitbake stops its tasks at once.
func WithSecondInterrupt(ctx context.Context, second <-chan struct{}) context.Context {
	return context.WithValue(ctx, secondKey{}, second)
}

func secondInterrupt(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(secondKey{}).(<-chan struct{})
	return ch // nil blocks forever
}

// HardStopGrace is how long bitbake gets after the second SIGINT before
// its process group is killed (bitbake itself stops within about 5 s).
var HardStopGrace = 15 * time.Second

// forwardSecondInterrupt waits, after the first interrupt, for a second
// one and passes it on to bitbake's process group; if bitbake is still
// running HardStopGrace later, the group is killed.
func forwardSecondInterrupt(ctx context.Context, pid int, exited <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-exited:
		return
	}
	select {
	case <-secondInterrupt(ctx):
	case <-exited:
		return
	}
	syscall.Kill(-pid, syscall.SIGINT)
	select {
	case <-time.After(HardStopGrace):
		syscall.Kill(-pid, syscall.SIGKILL)
	case <-exited:
	}
}
