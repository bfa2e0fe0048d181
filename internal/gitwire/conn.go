package gitwire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/xtbuild/xtbuild/internal/tailbuf"
)

// ErrNotV2 says the server did not answer in protocol version 2.
var ErrNotV2 = errors.New("server does not speak git protocol version 2")

// Conn is a protocol v2 session with one upload-pack.
type Conn struct {
	rd    pktReader
	w     io.Writer
	caps  map[string]string
	close func() error
	diag  func() string // the server's stderr, for errors
}

// Capability returns the value of a capability the server advertised
// ("" for one without a value) and whether it did.
func (c *Conn) Capability(name string) (string, bool) {
	v, ok := c.caps[name]
	return v, ok
}

// Close ends the session and reports how the server ended (a local
// upload-pack's exit status and the tail of its stderr).
func (c *Conn) Close() error { return c.close() }

// localRepoEnv are the variables git's connect.c removes from a local
// upload-pack's environment (local_repo_env): they describe the client's
// repository, not the served one.
var localRepoEnv = []string{
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
	"GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
	"GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
	"GIT_SHALLOW_FILE", "GIT_COMMON_DIR", "GIT_NAMESPACE",
}

// DialLocal starts cmd, a prepared `git upload-pack -- <path>` for a local
// repository (a bare repository, or a worktree and its .git, as git fetch
// accepts), as git fetch does for a file:// URL, and reads its
// capabilities. The caller owns how a git child runs: its context,
// cancellation and death signal, and its environment (cmd.Env, nil for
// this process's), from which DialLocal removes what describes the
// client's repository and to which it adds GIT_PROTOCOL=version=2.
func DialLocal(cmd *exec.Cmd) (*Conn, error) {
	path := cmd.Args[len(cmd.Args)-1]
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = nil
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(localRepoEnv, name) && name != "GIT_PROTOCOL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_PROTOCOL=version=2")
	stderr := tailbuf.New(2048)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start git upload-pack: %w", err)
	}
	var once sync.Once
	var waitErr error
	wait := func() error {
		once.Do(func() {
			in.Close()
			// Whatever the server still writes (a pack nobody wants after
			// an error) must not block its exit.
			io.Copy(io.Discard, out)
			waitErr = cmd.Wait()
			if waitErr != nil {
				if s := strings.TrimSpace(stderr.String()); s != "" {
					waitErr = fmt.Errorf("git upload-pack %s: %w: %s", path, waitErr, s)
				} else {
					waitErr = fmt.Errorf("git upload-pack %s: %w", path, waitErr)
				}
			}
		})
		return waitErr
	}
	diag := func() string { return strings.TrimSpace(stderr.String()) }
	c := &Conn{rd: pktReader{r: bufio.NewReaderSize(out, 64<<10)}, w: in, close: wait, diag: diag}
	if err := c.handshake(); err != nil {
		if werr := wait(); werr != nil && !errors.Is(err, ErrNotV2) {
			err = fmt.Errorf("%w (%v)", err, werr)
		}
		return nil, err
	}
	return c, nil
}

// DialDaemon connects to the git daemon at host (host or host:port,
// default port 9418) and asks for upload-pack of path, protocol version 2.
// The connection is closed when ctx is cancelled.
func DialDaemon(ctx context.Context, host, path string) (*Conn, error) {
	if strings.ContainsAny(host+path, "\x00\n") || !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("gitwire: bad git:// address %q %q", host, path)
	}
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(strings.Trim(host, "[]"), "9418")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to git daemon %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	var w pktWriter
	// git-daemon(1): the request, the virtual host, then after a second
	// NUL the extra parameters (gitprotocol-pack.txt, "Git Transport").
	w.raw([]byte("git-upload-pack " + path + "\x00host=" + host + "\x00\x00version=2\x00"))
	if err := w.send(nc); err != nil {
		stop()
		nc.Close()
		return nil, fmt.Errorf("git daemon %s: %w", addr, ctxErr(ctx, err))
	}
	c := &Conn{rd: pktReader{r: bufio.NewReaderSize(nc, 64<<10)}, w: nc, diag: func() string { return "" }}
	c.close = func() error {
		stop()
		nc.Close()
		return nil
	}
	if err := c.handshake(); err != nil {
		c.close()
		return nil, ctxErr(ctx, err)
	}
	return c, nil
}

// ctxErr prefers the context's error to the I/O error its cancellation
// caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// handshake reads the capability advertisement.
func (c *Conn) handshake() error {
	first, kind, err := c.rd.line()
	if err != nil {
		var se *ServerError
		if errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("read capability advertisement: %w", err)
	}
	if kind != 0 || first != "version 2" {
		return ErrNotV2
	}
	c.caps = map[string]string{}
	for {
		l, kind, err := c.rd.line()
		if err != nil {
			return fmt.Errorf("read capability advertisement: %w", err)
		}
		if kind == flushPkt {
			return nil
		}
		if kind != 0 {
			return fmt.Errorf("read capability advertisement: unexpected special packet %d", kind)
		}
		k, v, _ := strings.Cut(l, "=")
		c.caps[k] = v
	}
}
