package bbserv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/config"
)

// PRServ is one bitbake-prserv to run. BitBake's script only runs the
// server as a daemon (--start forks it away and returns; --stop signals
// it by the pid file the daemon writes), so Run starts it, finds the
// daemon's pid in BitBake's pid file, follows its log file into the
// logger, watches that it stays alive, and on the end of ctx stops it
// with --stop, making sure it is gone.
type PRServ struct {
	BitbakeDir  string
	Bind        string // IP:PORT (or localhost:PORT), fixed port
	Database    string // absolute path; the log is Database + ".log"
	ReadOnly    bool
	AllowRemote bool
	Debug       bool
	Log         *slog.Logger
	// PidDir is where BitBake writes PRServer_<ip>_<port>.pid: /tmp in
	// every release; empty means /tmp.
	PidDir string
	// Ready is called once the server accepts connections.
	Ready func(bind string, v Version, pid int)
}

// hostPort splits Bind into the IP BitBake's pid file is named after
// (socket.gethostbyname: localhost is 127.0.0.1) and the port.
func (p PRServ) hostPort() (ip, port string, err error) {
	host, port, err := net.SplitHostPort(p.Bind)
	if err != nil {
		return "", "", fmt.Errorf("prserv.bind %q: %w", p.Bind, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("prserv.bind %q: a fixed port from 1 to 65535 is needed (BitBake names its pid file after it)", p.Bind)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil {
		return "", "", fmt.Errorf("prserv.bind %q: bitbake-prserv needs an IPv4 address (or localhost)", p.Bind)
	}
	return host, port, nil
}

// Args is the command line for action "--start" or "--stop" on release v.
func (p PRServ) Args(v Version, action string) ([]string, error) {
	if err := checkBind("prserv.bind", p.Bind, p.AllowRemote); err != nil {
		return nil, err
	}
	ip, port, err := p.hostPort()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(p.BitbakeDir, "bin", "bitbake-prserv")
	if action == "--stop" {
		// --log too: the script opens its log before acting, else
		// prserv.log in the working directory.
		return []string{bin, "--stop", "--host", ip, "--port", port, "--log", p.logFile()}, nil
	}
	if p.Database == "" || !filepath.IsAbs(p.Database) {
		return nil, fmt.Errorf("prserv.database %q: an absolute path is needed", p.Database)
	}
	level := "INFO"
	if p.Debug {
		level = "DEBUG"
	}
	args := []string{bin, "--start", "--host", ip, "--port", port, "--file", p.Database, "--log", p.logFile(), "--loglevel", level}
	if p.ReadOnly {
		if !v.AtLeast(2, 0) {
			return nil, fmt.Errorf("bitbake-prserv of BitBake %s has no --read-only (2.0 and later)", v)
		}
		args = append(args, "--read-only")
	}
	return args, nil
}

func (p PRServ) logFile() string { return p.Database + ".log" }

func (p PRServ) pidFile() string {
	ip, port, _ := p.hostPort()
	dir := p.PidDir
	if dir == "" {
		dir = "/tmp"
	}
	return filepath.Join(dir, fmt.Sprintf("PRServer_%s_%s.pid", ip, port))
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func readPid(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, line)
	}
	return pid, nil
}

// Run starts the daemon, keeps it until ctx ends, then stops it.
func (p PRServ) Run(ctx context.Context) error {
	v, err := ReadVersion(p.BitbakeDir)
	if err != nil {
		return err
	}
	start, err := p.Args(v, "--start")
	if err != nil {
		return err
	}
	pidf := p.pidFile()
	if pid, err := readPid(pidf); err == nil {
		if alive(pid) {
			return fmt.Errorf("prserv: a PR server already runs on %s (pid %d, %s)", p.Bind, pid, pidf)
		}
		// BitBake would refuse to start ("Daemon already running?").
		p.Log.Warn("removing the pid file of a PR server that is gone", "pidfile", pidf, "pid", pid)
		if err := os.Remove(pidf); err != nil {
			return fmt.Errorf("prserv: stale pid file: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p.Database), 0o755); err != nil {
		return fmt.Errorf("prserv: %w", err)
	}
	// Follow the log from its current end: the daemon appends to it.
	var offset int64
	if st, err := os.Stat(p.logFile()); err == nil {
		offset = st.Size()
	}
	tail := &logTail{path: p.logFile(), offset: offset, log: p.Log}

	p.Log.Info("starting bitbake-prserv", "argv", start, "bitbake", v.String())
	if out, err := p.command(ctx, start); err != nil {
		tail.poll()
		return fmt.Errorf("prserv: %s: %v\n%s%s", strings.Join(start, " "), err, out, tail.last())
	}
	// The daemon writes its pid file after --start returned.
	pid := 0
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 {
		tail.poll()
		if n, err := readPid(pidf); err == nil {
			pid = n
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prserv: no pid file %s 30 s after --start:\n%s", pidf, tail.last())
		}
		time.Sleep(100 * time.Millisecond)
	}
	gone := func() error {
		if !alive(pid) {
			tail.poll()
			p.removeStale(pidf, pid)
			return fmt.Errorf("bitbake-prserv (pid %d) exited:\n%s", pid, tail.last())
		}
		return nil
	}
	if err := waitListening(ctx, p.Bind, "", 60*time.Second, gone); err != nil {
		if ctx.Err() == nil {
			err = fmt.Errorf("prserv: %w", err)
		} else {
			err = nil
		}
		if serr := p.stop(v, pid, pidf, tail); serr != nil && err == nil {
			err = serr
		}
		return err
	}
	if p.Ready != nil {
		p.Ready(p.Bind, v, pid)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := p.stop(v, pid, pidf, tail); err != nil {
				return err
			}
			p.Log.Info("bitbake-prserv stopped", "pid", pid)
			return nil
		case <-tick.C:
			tail.poll()
			if err := gone(); err != nil {
				return fmt.Errorf("prserv: %w", err)
			}
		}
	}
}

// stop runs --stop (BitBake's own way: SIGTERM by the pid file), then
// makes sure the daemon is gone: SIGKILL after 20 s.
func (p PRServ) stop(v Version, pid int, pidf string, tail *logTail) error {
	args, err := p.Args(v, "--stop")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := p.command(ctx, args)
	if err != nil {
		p.Log.Warn("bitbake-prserv --stop failed; sending SIGTERM", "error", err, "output", string(out))
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(20 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			p.removeStale(pidf, pid)
			tail.poll()
			return fmt.Errorf("prserv: bitbake-prserv (pid %d) did not stop within 20 s; killed", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.removeStale(pidf, pid)
	tail.poll()
	return nil
}

// removeStale removes the pid file if it still names pid.
func (p PRServ) removeStale(pidf string, pid int) {
	if n, err := readPid(pidf); err == nil && n == pid {
		os.Remove(pidf)
	}
}

// command runs a short bitbake-prserv invocation and logs its output.
func (p PRServ) command(ctx context.Context, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = filepath.Dir(p.Database)
	cmd.Env = serviceEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The daemon inherits no pipe of ours: it redirects its output to the
	// log file, but until then a pipe would keep Output waiting.
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line != "" {
			p.Log.Info(line, "server", "bitbake-prserv")
		}
	}
	return buf.Bytes(), err
}

// logTail follows a log file another process appends to.
type logTail struct {
	path   string
	offset int64
	log    *slog.Logger
	lines  []string
	part   string
}

func (t *logTail) poll() {
	f, err := os.Open(t.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return
	}
	data, _ := io.ReadAll(f)
	t.offset += int64(len(data))
	text := t.part + string(data)
	lines := strings.Split(text, "\n")
	t.part = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		t.log.Info(l, "server", "bitbake-prserv")
		t.lines = append(t.lines, l)
		if len(t.lines) > 20 {
			t.lines = t.lines[1:]
		}
	}
}

func (t *logTail) last() string {
	if len(t.lines) == 0 {
		return "(log " + t.path + " is empty)"
	}
	return "log " + t.path + ":\n" + strings.Join(t.lines, "\n")
}

// RunPRServ is the prserv target: [prserv] of c, the cloned bitbake.
func RunPRServ(ctx context.Context, c *config.Config, debug bool, w io.Writer, log *slog.Logger) error {
	bb, err := BitbakeDir(c)
	if err != nil {
		return err
	}
	pc := c.PRServ
	p := PRServ{
		BitbakeDir: bb, Bind: pc.Bind, Database: c.Abs(pc.Database), ReadOnly: pc.ReadOnly,
		AllowRemote: pc.AllowRemote, Debug: debug, Log: log,
		Ready: func(bind string, v Version, pid int) {
			mode := "read-write"
			if pc.ReadOnly {
				mode = "read-only"
			}
			fmt.Fprintf(w, "prserv: BitBake %s bitbake-prserv (pid %d) listening on %s (%s, database %s, log %s.log); workers: [mirrors] prserv = %q. Ctrl-C stops it.\n",
				v, pid, bind, mode, c.Abs(pc.Database), c.Abs(pc.Database), bind)
		},
	}
	return p.Run(ctx)
}
