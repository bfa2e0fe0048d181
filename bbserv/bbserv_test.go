package bbserv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// syncBuf is a log sink safe for the server goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLog() (*slog.Logger, *syncBuf) {
	b := &syncBuf{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// standinBitbake makes a bitbake checkout of release version whose
// bin/bitbake-hashserv and bin/bitbake-prserv are the stand-ins of
// testdata/ (they need python3, which CI installs).
func standinBitbake(t *testing.T, version string) string {
	t.Helper()
	testenv.LookPath(t, "python3", "python3")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.MkdirAll(filepath.Join(dir, "lib", "bb"), 0o755)
	os.WriteFile(filepath.Join(dir, "lib", "bb", "__init__.py"), []byte("__version__ = \""+version+"\"\n"), 0o644)
	for _, s := range []string{"bitbake-hashserv", "bitbake-prserv"} {
		data, err := os.ReadFile(filepath.Join("testdata", s))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "bin", s), data, 0o755)
	}
	t.Setenv("XTBUILD_STANDIN_RECORD", filepath.Join(dir, "record.jsonl"))
	return dir
}

func records(t *testing.T, bbdir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(bbdir, "record.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		json.Unmarshal(sc.Bytes(), &m)
		out = append(out, m)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestHashservArgsFollowRelease(t *testing.T) {
	base := Hashserv{BitbakeDir: "/bb", Bind: "127.0.0.1:8686", Database: "/srv/h.db"}
	bin := "/bb/bin/bitbake-hashserv"
	for _, tc := range []struct {
		name string
		v    Version
		edit func(h *Hashserv)
		want []string
		err  string
	}{
		{"dunfell", Version{1, 46}, func(h *Hashserv) {}, []string{bin, "--bind", "127.0.0.1:8686", "--database", "/srv/h.db", "--log", "INFO"}, ""},
		{"dunfell read-only", Version{1, 46}, func(h *Hashserv) { h.ReadOnly = true }, nil, "no --read-only or --upstream"},
		{"hardknott read-only upstream", Version{1, 50}, func(h *Hashserv) { h.ReadOnly, h.Upstream = true, "up.lan:8686" },
			[]string{bin, "--bind", "127.0.0.1:8686", "--database", "/srv/h.db", "--log", "INFO", "--upstream", "up.lan:8686", "--read-only"}, ""},
		{"scarthgap", Version{2, 8}, func(h *Hashserv) { h.Debug = true },
			[]string{bin, "--bind", "127.0.0.1:8686", "--database", "/srv/h.db", "--log", "DEBUG", "--anon-perms", "@read,@report"}, ""},
		{"scarthgap read-only", Version{2, 8}, func(h *Hashserv) { h.ReadOnly = true },
			[]string{bin, "--bind", "127.0.0.1:8686", "--database", "/srv/h.db", "--log", "INFO", "--read-only", "--anon-perms", "@read"}, ""},
		{"unix socket", Version{2, 0}, func(h *Hashserv) { h.Bind = "unix:///run/h.sock" },
			[]string{bin, "--bind", "unix:///run/h.sock", "--database", "/srv/h.db", "--log", "INFO"}, ""},
		{"all addresses refused", Version{2, 8}, func(h *Hashserv) { h.Bind = ":8686" }, nil, "listens beyond this host"},
		{"all addresses allowed", Version{2, 0}, func(h *Hashserv) { h.Bind, h.AllowRemote = ":8686", true },
			[]string{bin, "--bind", ":8686", "--database", "/srv/h.db", "--log", "INFO"}, ""},
		{"relative database", Version{2, 8}, func(h *Hashserv) { h.Database = "h.db" }, nil, "absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := base
			tc.edit(&h)
			got, err := h.Args(tc.v)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

func TestPRServArgsFollowRelease(t *testing.T) {
	bin := "/bb/bin/bitbake-prserv"
	for _, tc := range []struct {
		name string
		v    Version
		p    PRServ
		want []string
		err  string
	}{
		{"dunfell", Version{1, 46}, PRServ{Bind: "localhost:8585", Database: "/srv/pr.db"},
			[]string{bin, "--start", "--host", "127.0.0.1", "--port", "8585", "--file", "/srv/pr.db", "--log", "/srv/pr.db.log", "--loglevel", "INFO"}, ""},
		{"dunfell read-only", Version{1, 46}, PRServ{Bind: "127.0.0.1:8585", Database: "/srv/pr.db", ReadOnly: true}, nil, "no --read-only"},
		{"kirkstone read-only", Version{2, 0}, PRServ{Bind: "127.0.0.1:8585", Database: "/srv/pr.db", ReadOnly: true},
			[]string{bin, "--start", "--host", "127.0.0.1", "--port", "8585", "--file", "/srv/pr.db", "--log", "/srv/pr.db.log", "--loglevel", "INFO", "--read-only"}, ""},
		{"remote refused", Version{2, 8}, PRServ{Bind: "10.1.2.3:8585", Database: "/srv/pr.db"}, nil, "listens beyond this host"},
		{"remote allowed", Version{2, 8}, PRServ{Bind: "10.1.2.3:8585", Database: "/srv/pr.db", AllowRemote: true},
			[]string{bin, "--start", "--host", "10.1.2.3", "--port", "8585", "--file", "/srv/pr.db", "--log", "/srv/pr.db.log", "--loglevel", "INFO"}, ""},
		{"port 0", Version{2, 8}, PRServ{Bind: "127.0.0.1:0", Database: "/srv/pr.db"}, nil, "fixed port"},
		{"ipv6", Version{2, 8}, PRServ{Bind: "[::1]:8585", Database: "/srv/pr.db"}, nil, "IPv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.BitbakeDir = "/bb"
			got, err := tc.p.Args(tc.v, "--start")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

// runServer runs fn in the background and waits for ready; the returned
// stop cancels and returns fn's result.
func runServer(t *testing.T, fn func(ctx context.Context) error, ready chan struct{}) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server ended before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server not ready after 60 s")
	}
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("server did not stop within 60 s of cancel")
			return nil
		}
	}
}

func TestHashservStandInStartsAndStops(t *testing.T) {
	bb := standinBitbake(t, "2.8.1")
	t.Setenv("HASHSERVER_READ_ONLY", "1") // must not reach the server
	log, logs := testLog()
	bind := "127.0.0.1:" + freePort(t)
	ready := make(chan struct{})
	h := Hashserv{BitbakeDir: bb, Bind: bind, Database: filepath.Join(t.TempDir(), "db", "hashserv.db"), Log: log,
		Ready: func(string, Version) { close(ready) }}
	stop := runServer(t, h.Run, ready)
	conn, err := net.Dial("tcp", bind)
	if err != nil {
		t.Fatalf("dial %s: %v", bind, err)
	}
	conn.Close()
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	recs := records(t, bb)
	if len(recs) != 2 || recs[1]["stopped"] != true {
		t.Fatalf("records %v: want the start and a clean SIGTERM stop", recs)
	}
	want := []any{"--bind", bind, "--database", h.Database, "--log", "INFO", "--anon-perms", "@read,@report"}
	if !reflect.DeepEqual(recs[0]["argv"], want) || recs[0]["cwd"] != filepath.Dir(h.Database) {
		t.Errorf("argv %v cwd %v, want %v in %s", recs[0]["argv"], recs[0]["cwd"], want, filepath.Dir(h.Database))
	}
	if env := recs[0]["env"].(map[string]any); len(env) != 0 {
		t.Errorf("HASHSERVER_* reached the server: %v", env)
	}
	for _, w := range []string{"Listening on " + bind, "SIGTERM, shutting down", "bitbake-hashserv stopped"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
	if _, err := net.Dial("tcp", bind); err == nil {
		t.Error("still listening after stop")
	}
}

func TestHashservStandInFailures(t *testing.T) {
	t.Run("exits at start", func(t *testing.T) {
		bb := standinBitbake(t, "2.8.1")
		t.Setenv("XTBUILD_STANDIN_FAIL", "1")
		log, _ := testLog()
		h := Hashserv{BitbakeDir: bb, Bind: "127.0.0.1:" + freePort(t), Database: filepath.Join(t.TempDir(), "h.db"), Log: log}
		err := h.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "before accepting connections") || !strings.Contains(err.Error(), "failing at start as asked") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("read-only on dunfell", func(t *testing.T) {
		bb := standinBitbake(t, "1.46.0")
		log, _ := testLog()
		h := Hashserv{BitbakeDir: bb, Bind: "127.0.0.1:" + freePort(t), Database: filepath.Join(t.TempDir(), "h.db"), ReadOnly: true, Log: log}
		if err := h.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no --read-only") {
			t.Fatalf("err %v", err)
		}
		if _, err := os.Stat(filepath.Join(bb, "record.jsonl")); err == nil {
			t.Error("the server was started")
		}
	})
	t.Run("dunfell options accepted", func(t *testing.T) {
		bb := standinBitbake(t, "1.46.0")
		log, _ := testLog()
		ready := make(chan struct{})
		h := Hashserv{BitbakeDir: bb, Bind: "127.0.0.1:" + freePort(t), Database: filepath.Join(t.TempDir(), "h.db"), Log: log,
			Ready: func(string, Version) { close(ready) }}
		if err := runServer(t, h.Run, ready)(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPRServStandInDaemon(t *testing.T) {
	bb := standinBitbake(t, "2.0.0")
	pidDir := t.TempDir()
	t.Setenv("XTBUILD_STANDIN_PIDDIR", pidDir)
	port := freePort(t)
	pidf := filepath.Join(pidDir, "PRServer_127.0.0.1_"+port+".pid")
	// A pid file left by a server that is gone: BitBake would refuse to start.
	dead := exec.Command("true")
	dead.Run()
	os.WriteFile(pidf, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644)

	log, logs := testLog()
	var pid int
	ready := make(chan struct{})
	p := PRServ{BitbakeDir: bb, Bind: "localhost:" + port, Database: filepath.Join(t.TempDir(), "pr.sqlite3"), ReadOnly: true,
		Log: log, PidDir: pidDir, Ready: func(_ string, _ Version, n int) { pid = n; close(ready) }}
	stop := runServer(t, p.Run, ready)
	if n, err := readPid(pidf); err != nil || n != pid || !alive(pid) {
		t.Fatalf("pid file %v %v, daemon pid %d alive %v", n, err, pid, alive(pid))
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if alive(pid) {
		t.Errorf("daemon %d still alive", pid)
	}
	if _, err := os.Stat(pidf); err == nil {
		t.Error("pid file left behind")
	}
	recs := records(t, bb)
	var argvs []string
	for _, r := range recs {
		if a, ok := r["argv"].([]any); ok {
			argvs = append(argvs, a[0].(string))
		}
	}
	if strings.Join(argvs, " ") != "--start --stop" || recs[len(recs)-1]["stopped"] == nil {
		t.Errorf("records %v", recs)
	}
	for _, w := range []string{"removing the pid file of a PR server that is gone", "Started PRServer (stand-in)", "PRServer (stand-in) exiting", "bitbake-prserv stopped"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
}

func TestPRServStandInFailures(t *testing.T) {
	t.Run("daemon dies", func(t *testing.T) {
		bb := standinBitbake(t, "2.8.1")
		pidDir := t.TempDir()
		t.Setenv("XTBUILD_STANDIN_PIDDIR", pidDir)
		t.Setenv("XTBUILD_STANDIN_FAIL", "1")
		log, _ := testLog()
		p := PRServ{BitbakeDir: bb, Bind: "127.0.0.1:" + freePort(t), Database: filepath.Join(t.TempDir(), "pr.sqlite3"), Log: log, PidDir: pidDir}
		err := p.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "stand-in daemon failing") {
			t.Fatalf("err %v", err)
		}
		if ents, _ := os.ReadDir(pidDir); len(ents) != 0 {
			t.Errorf("stale pid file left: %v", ents)
		}
	})
	t.Run("already running", func(t *testing.T) {
		bb := standinBitbake(t, "2.8.1")
		pidDir := t.TempDir()
		port := freePort(t)
		os.WriteFile(filepath.Join(pidDir, "PRServer_127.0.0.1_"+port+".pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
		log, _ := testLog()
		p := PRServ{BitbakeDir: bb, Bind: "127.0.0.1:" + port, Database: filepath.Join(t.TempDir(), "pr.sqlite3"), Log: log, PidDir: pidDir}
		if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already runs") {
			t.Fatalf("err %v", err)
		}
	})
}

// realBitbake is the bitbake checkout of BITBAKE_DIR (any release from 1.46).
func realBitbake(t *testing.T) string {
	dir := testenv.NeedEnv(t, "BITBAKE_DIR", "a bitbake checkout (1.46 to 2.8) to run the real bitbake-hashserv and bitbake-prserv")
	testenv.LookPath(t, "python3", "python3")
	return dir
}

// The real bitbake-hashserv starts, answers bitbake-hashclient stats, and
// stops cleanly on cancel.
func TestRealHashserv(t *testing.T) {
	bb := realBitbake(t)
	log, logs := testLog()
	bind := "127.0.0.1:" + freePort(t)
	ready := make(chan struct{})
	var v Version
	h := Hashserv{BitbakeDir: bb, Bind: bind, Database: filepath.Join(t.TempDir(), "hashserv.db"), Log: log,
		Ready: func(_ string, rv Version) { v = rv; close(ready) }}
	stop := runServer(t, h.Run, ready)
	out, err := exec.Command(filepath.Join(bb, "bin", "bitbake-hashclient"), "--address", bind, "stats").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "requests") {
		stop()
		t.Fatalf("bitbake-hashclient stats: %v\n%s", err, out)
	}
	t.Logf("BitBake %s bitbake-hashclient stats: %s", v, strings.Join(strings.Fields(string(out)), " "))
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs)
	}
	if _, err := os.Stat(h.Database); err != nil {
		t.Errorf("database: %v", err)
	}
	// The readiness probe greets as a client does: no server traceback.
	if strings.Contains(logs.String(), "Traceback") {
		t.Errorf("server logged a traceback:\n%s", logs)
	}
	if _, err := net.Dial("tcp", bind); err == nil {
		t.Error("still listening after stop")
	}
}

// The real bitbake-prserv daemon starts, hands out a PR value to BitBake's
// own client code, and is gone (pid file too) after cancel.
func TestRealPRServ(t *testing.T) {
	bb := realBitbake(t)
	log, logs := testLog()
	port := freePort(t)
	ready := make(chan struct{})
	var pid int
	p := PRServ{BitbakeDir: bb, Bind: "127.0.0.1:" + port, Database: filepath.Join(t.TempDir(), "prserv.sqlite3"), Log: log,
		Ready: func(_ string, _ Version, n int) { pid = n; close(ready) }}
	stop := runServer(t, p.Run, ready)
	client := `import sys
sys.path.insert(0, sys.argv[1] + "/lib")
import prserv.serv as s
host, port = "127.0.0.1", int(sys.argv[2])
if hasattr(s, "connect"):
    c = s.connect(host, port)
    print(c.getPR("1.0-r0", "core2-64", "a" * 64), c.getPR("1.0-r0", "core2-64", "b" * 64))
    c.close()
else:
    c = s.PRServerConnection(host, port)
    print(c.getPR("1.0-r0", "core2-64", "a" * 64), c.getPR("1.0-r0", "core2-64", "b" * 64))
`
	out, err := exec.Command("python3", "-c", client, bb, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "0 1" {
		stop()
		t.Fatalf("PR client: %v\n%s\nserver log:\n%s", err, out, logs)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs)
	}
	if alive(pid) {
		t.Errorf("daemon %d alive after stop", pid)
	}
	if _, err := os.Stat(p.pidFile()); err == nil {
		t.Errorf("pid file %s left", p.pidFile())
	}
	// Nothing but the database and its log beside it (--stop logs there too).
	ents, _ := os.ReadDir(filepath.Dir(p.Database))
	for _, e := range ents {
		if n := e.Name(); n != "prserv.sqlite3" && n != "prserv.sqlite3.log" {
			t.Errorf("stray file %s beside the database", n)
		}
	}
}
