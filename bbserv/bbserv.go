// Package bbserv runs BitBake's own shared services from the bitbake
// checkout setupoe cloned: bin/bitbake-hashserv (hash equivalence) and
// bin/bitbake-prserv (PR service), for the workers of a fanned-out build.
// Each command line follows the options the checkout's release has (read
// from its lib/bb/__init__.py): bitbake-hashserv has --read-only and
// --upstream from 1.50 and anonymous permissions from 2.8;
// bitbake-prserv is a daemon in every release up to 2.8 (--start/--stop,
// a pid file /tmp/PRServer_<ip>_<port>.pid) with --read-only from 2.0.
// Both run until the context ends (Ctrl-C) and are then stopped cleanly;
// their output goes to the one logger.
package bbserv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xtbuild/xtbuild/config"
)

// Version is a BitBake release, major.minor.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast says whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

var versionRE = regexp.MustCompile(`(?m)^__version__\s*=\s*["'](\d+)\.(\d+)`)

// ReadVersion reads the version of the bitbake checkout at dir.
func ReadVersion(dir string) (Version, error) {
	p := filepath.Join(dir, "lib", "bb", "__init__.py")
	data, err := os.ReadFile(p)
	if err != nil {
		return Version{}, fmt.Errorf("bitbake version: %w (run setupoe first: it clones bitbake)", err)
	}
	m := versionRE.FindSubmatch(data)
	if m == nil {
		return Version{}, fmt.Errorf("bitbake version: no __version__ in %s", p)
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	return Version{major, minor}, nil
}

// BitbakeDir is the checkout of the config's bitbake layer (kind "bitbake").
func BitbakeDir(c *config.Config) (string, error) {
	for _, l := range c.Layers {
		if l.Kind == "bitbake" {
			return c.LayerDir(l), nil
		}
	}
	return "", errors.New("no [[layer]] of kind \"bitbake\": the services run the bitbake checkout setupoe clones")
}

// checkBind refuses a bind address beyond loopback unless allowed. The
// config validation says the same; this guards callers that build the
// options themselves.
func checkBind(key, bind string, allowRemote bool) error {
	if strings.HasPrefix(bind, "unix://") {
		return nil
	}
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("%s %q: %w", key, bind, err)
	}
	if !allowRemote && !config.IsLoopback(host) {
		return fmt.Errorf("%s %q listens beyond this host: set allow_remote = true to serve other workers", key, bind)
	}
	return nil
}

// serviceEnv is the process environment without the variables BitBake's
// servers read as defaults (HASHSERVER_*), so only our command line counts.
func serviceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HASHSERVER_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitListening dials addr (HOST:PORT or unix://path) until it accepts,
// alive reports the server gone, or the timeout passes. hello is written
// before closing a probe connection, so the server sees a client that
// greets and leaves rather than a broken one.
func waitListening(ctx context.Context, addr string, hello string, timeout time.Duration, alive func() error) error {
	network, a := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		network, a = "unix", p
	}
	deadline := time.Now().Add(timeout)
	for {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, network, a)
		if err == nil {
			if hello != "" {
				conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				conn.Write([]byte(hello))
			}
			conn.Close()
			return nil
		}
		if aerr := alive(); aerr != nil {
			return aerr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections on %s after %s: %w", addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lineLogger copies r line by line to log, keeping the last lines for
// error messages.
type lineLogger struct {
	mu   sync.Mutex
	tail []string
}

func (l *lineLogger) copy(r io.Reader, log *slog.Logger, server string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		log.Info(line, "server", server)
		l.mu.Lock()
		l.tail = append(l.tail, line)
		if len(l.tail) > 20 {
			l.tail = l.tail[1:]
		}
		l.mu.Unlock()
	}
}

func (l *lineLogger) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tail) == 0 {
		return "(no output)"
	}
	return strings.Join(l.tail, "\n")
}
