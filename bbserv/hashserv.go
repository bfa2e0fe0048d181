package bbserv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/config"
)

// Hashserv is one bitbake-hashserv to run.
type Hashserv struct {
	BitbakeDir  string // the bitbake checkout
	Bind        string // HOST:PORT or unix:///path
	Database    string // absolute path of the SQLite database
	ReadOnly    bool
	Upstream    string
	AllowRemote bool
	Debug       bool // --log DEBUG instead of INFO
	Log         *slog.Logger
	// Ready is called once the server accepts connections.
	Ready func(bind string, v Version)
}

// Args is the command line for the checkout's release v.
func (h Hashserv) Args(v Version) ([]string, error) {
	if err := checkBind("hashserv.bind", h.Bind, h.AllowRemote); err != nil {
		return nil, err
	}
	if h.Database == "" || !filepath.IsAbs(h.Database) {
		return nil, fmt.Errorf("hashserv.database %q: an absolute path is needed", h.Database)
	}
	level := "INFO"
	if h.Debug {
		level = "DEBUG"
	}
	args := []string{filepath.Join(h.BitbakeDir, "bin", "bitbake-hashserv"), "--bind", h.Bind, "--database", h.Database, "--log", level}
	if !v.AtLeast(1, 50) && (h.ReadOnly || h.Upstream != "") {
		return nil, fmt.Errorf("bitbake-hashserv of BitBake %s has no --read-only or --upstream (1.50 and later)", v)
	}
	if h.Upstream != "" {
		args = append(args, "--upstream", h.Upstream)
	}
	if h.ReadOnly {
		args = append(args, "--read-only")
	}
	if v.AtLeast(2, 8) {
		// 2.8 gives anonymous clients @db-admin by default; workers need
		// to read and report, nothing more (and a read-only server only
		// reads).
		perms := "@read,@report"
		if h.ReadOnly {
			perms = "@read"
		}
		args = append(args, "--anon-perms", perms)
	}
	return args, nil
}

// Run starts the server and keeps it until ctx ends, then stops it with
// SIGTERM (both releases' servers shut down cleanly on it) and waits. It
// returns nil after a clean stop, an error when the server fails or exits
// on its own.
func (h Hashserv) Run(ctx context.Context) error {
	v, err := ReadVersion(h.BitbakeDir)
	if err != nil {
		return err
	}
	args, err := h.Args(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(h.Database), 0o755); err != nil {
		return fmt.Errorf("hashserv: %w", err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = filepath.Dir(h.Database)
	cmd.Env = serviceEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's Ctrl-C reaches us, not it
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	out := &lineLogger{}
	copied := make(chan struct{})
	go func() { out.copy(pr, h.Log, "bitbake-hashserv"); close(copied) }()
	h.Log.Info("starting bitbake-hashserv", "argv", args, "bitbake", v.String())
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("hashserv: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	ended := false
	gone := func() error {
		select {
		case err := <-exited:
			ended = true
			<-copied
			return fmt.Errorf("bitbake-hashserv exited (%v) before accepting connections:\n%s", err, out.last())
		default:
			return nil
		}
	}
	// The protocol greeting of every release's clients: bitbake-hashserv
	// 1.46 logs a traceback for a connection that closes without it.
	if err := waitListening(ctx, h.Bind, "OEHASHEQUIV 1.1\n\n", 60*time.Second, gone); err != nil {
		if !ended {
			h.stop(cmd, exited)
			<-copied
		}
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("hashserv: %w", err)
	}
	if h.Ready != nil {
		h.Ready(h.Bind, v)
	}
	select {
	case err := <-exited:
		<-copied
		return fmt.Errorf("hashserv: bitbake-hashserv exited on its own (%v):\n%s", err, out.last())
	case <-ctx.Done():
	}
	err = h.stop(cmd, exited)
	<-copied
	if err != nil {
		return fmt.Errorf("hashserv: %w", err)
	}
	h.Log.Info("bitbake-hashserv stopped")
	return nil
}

// stop sends SIGTERM, waits up to 20 s, then kills.
func (h Hashserv) stop(cmd *exec.Cmd, exited chan error) error {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err == nil || (errors.As(err, &ee) && ee.Exited()) {
			return nil
		}
		return fmt.Errorf("bitbake-hashserv ended by %v", err)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
		return errors.New("bitbake-hashserv did not stop within 20 s of SIGTERM; killed")
	}
}

// RunHashserv is the hashserv target: [hashserv] of c, the cloned bitbake.
func RunHashserv(ctx context.Context, c *config.Config, debug bool, w io.Writer, log *slog.Logger) error {
	bb, err := BitbakeDir(c)
	if err != nil {
		return err
	}
	hc := c.HashServ
	h := Hashserv{
		BitbakeDir: bb, Bind: hc.Bind, Database: c.Abs(hc.Database), ReadOnly: hc.ReadOnly,
		Upstream: hc.Upstream, AllowRemote: hc.AllowRemote, Debug: debug, Log: log,
		Ready: func(bind string, v Version) {
			mode := "read-write"
			if hc.ReadOnly {
				mode = "read-only"
			}
			fmt.Fprintf(w, "hashserv: BitBake %s bitbake-hashserv listening on %s (%s, database %s); workers: [mirrors] hashserve = %q. Ctrl-C stops it.\n",
				v, bind, mode, c.Abs(hc.Database), bind)
		},
	}
	return h.Run(ctx)
}
