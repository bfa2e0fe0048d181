package gitwire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/internal/testenv"
)

// upstream is a repository with three commits on main, a branch and an
// annotated tag; its commits oldest first.
func upstream(t *testing.T) (*gittest.Repo, []string) {
	testenv.LookPath(t, "git", "git")
	r := gittest.New(t, filepath.Join(t.TempDir(), "up"), "main")
	var shas []string
	for i := 1; i <= 3; i++ {
		shas = append(shas, r.Commit(fmt.Sprintf("dir/f%d", i), strings.Repeat(fmt.Sprintf("line %d\n", i), 50), fmt.Sprintf("c%d", i)))
	}
	gittest.Git(t, r.Dir, "branch", "side", shas[0])
	gittest.Git(t, r.Dir, "tag", "-a", "-m", "v1", "v1", shas[1])
	return r, shas
}

// receive fetches wants at depth from conn into a new empty repository
// (the pack through real `git index-pack`) and returns its git dir and the
// shallow commits.
func receive(t *testing.T, conn *Conn, depth int, wants ...string) (string, []string, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "dst")
	gittest.Git(t, "", "init", "-q", "--bare", dst)
	var shallow []string
	err := conn.Fetch(FetchRequest{Wants: wants, Depth: depth}, nil, func(s []string, pack io.Reader) error {
		shallow = s
		cmd := exec.Command("git", "--git-dir", dst, "index-pack", "--stdin")
		cmd.Stdin = pack
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("index-pack: %v: %s", err, out)
		}
		return nil
	})
	return dst, shallow, err
}

func has(t *testing.T, gitdir, obj string) bool {
	return exec.Command("git", "--git-dir", gitdir, "cat-file", "-e", obj).Run() == nil
}

// A commit that no ref points at, at depth 1, from a stock upload-pack:
// its tree arrives, its parent does not, and the server names it shallow.
func TestFetchLocalCommitByIDShallow(t *testing.T) {
	up, shas := upstream(t)
	conn, err := DialLocal(uploadPack(context.Background(), up.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := conn.Capability("fetch"); !ok || !strings.Contains(v, "shallow") {
		t.Fatalf("fetch capability %q %v", v, ok)
	}
	dst, shallow, err := receive(t, conn, 1, shas[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if len(shallow) != 1 || shallow[0] != shas[1] {
		t.Errorf("shallow %v, want [%s]", shallow, shas[1])
	}
	if !has(t, dst, shas[1]+"^{tree}") || !has(t, dst, shas[1]+":dir/f2") {
		t.Error("the commit's tree did not arrive")
	}
	if has(t, dst, shas[0]) || has(t, dst, shas[2]) {
		t.Error("depth 1 brought other commits")
	}
}

// Full history when no depth is asked; ls-refs lists and peels.
func TestLsRefsAndFullFetch(t *testing.T) {
	up, shas := upstream(t)
	conn, err := DialLocal(uploadPack(context.Background(), filepath.Join(up.Dir, ".git")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	refs, err := conn.LsRefs([]string{"refs/heads/", "refs/tags/v1"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Ref{}
	for _, r := range refs {
		got[r.Name] = r
	}
	if got["refs/heads/main"].Oid != shas[2] || got["refs/heads/side"].Oid != shas[0] {
		t.Errorf("branches: %+v", refs)
	}
	if tag := got["refs/tags/v1"]; tag.Peeled != shas[1] || tag.Oid == shas[1] {
		t.Errorf("annotated tag v1: %+v, want peeled %s", tag, shas[1])
	}
	// The same session serves a second command.
	dst, shallow, err := receive(t, conn, 0, shas[2])
	if err != nil {
		t.Fatal(err)
	}
	if len(shallow) != 0 || !has(t, dst, shas[0]) {
		t.Errorf("full fetch: shallow %v, first commit present %v", shallow, has(t, dst, shas[0]))
	}
}

// What the server refuses comes back as its error, and the session ends
// without hanging.
func TestFetchUnknownObjectIsServerError(t *testing.T) {
	up, _ := upstream(t)
	conn, err := DialLocal(uploadPack(context.Background(), up.Dir))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = receive(t, conn, 1, strings.Repeat("ab", 20))
	conn.Close()
	var se *ServerError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "not our ref") {
		t.Fatalf("err %v, want the server's \"not our ref\"", err)
	}
}

func TestDialLocalNotARepository(t *testing.T) {
	testenv.LookPath(t, "git", "git")
	_, err := DialLocal(uploadPack(context.Background(), t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "does not appear to be a git repository") {
		t.Fatalf("err %v", err)
	}
}

// uploadPack is the command DialLocal runs (layers prepares it with its
// git runner).
func uploadPack(ctx context.Context, path string) *exec.Cmd {
	return exec.CommandContext(ctx, "git", "upload-pack", "--", path)
}

// The git daemon transport, against a real `git daemon`.
func TestFetchFromGitDaemon(t *testing.T) {
	up, shas := upstream(t)
	base := filepath.Dir(up.Dir)
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := exec.CommandContext(ctx, "git", "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1",
		fmt.Sprintf("--port=%d", port), "--base-path="+base, base)
	var dlog bytes.Buffer
	d.Stderr = &dlog
	// The daemon serves each connection from a child: stop them all.
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d.Cancel = func() error { return syscall.Kill(-d.Process.Pid, syscall.SIGTERM) }
	d.WaitDelay = 5 * time.Second
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Wait()
	defer cancel()
	host := fmt.Sprintf("127.0.0.1:%d", port)
	var conn *Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if conn, err = DialDaemon(context.Background(), host, "/up"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("dial git daemon: %v\n%s", err, dlog.String())
	}
	dst, shallow, err := receive(t, conn, 1, shas[0])
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	// upload-pack names the depth boundary shallow even for a root commit.
	if len(shallow) != 1 || shallow[0] != shas[0] || !has(t, dst, shas[0]+":dir/f1") {
		t.Errorf("shallow %v; tree present %v", shallow, has(t, dst, shas[0]+":dir/f1"))
	}
	if _, err := DialDaemon(context.Background(), host, "/missing"); err == nil {
		t.Error("a repository the daemon does not export was accepted")
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Cancelling the context stops the server mid-pack and Fetch returns.
func TestFetchCancelled(t *testing.T) {
	up, shas := upstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := DialLocal(uploadPack(ctx, up.Dir))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- conn.Fetch(FetchRequest{Wants: []string{shas[2]}}, nil, func(_ []string, pack io.Reader) error {
			cancel()
			_, err := io.Copy(io.Discard, pack)
			if err == nil {
				<-time.After(time.Second) // the pack was already all in the pipe
			}
			return err
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch did not return after cancel")
	}
	if err := conn.Close(); err == nil {
		t.Error("Close after a cancelled fetch reported a clean exit")
	}
}

// Hand-made server streams for what a real server does not send on
// demand: a protocol v0 answer, a fatal sideband message, bad packets.
func TestResponsesFromStream(t *testing.T) {
	pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
	caps := pkt("version 2\n") + pkt("agent=git/2.39\n") + pkt("fetch=shallow\n") + "0000"
	for _, tc := range []struct {
		name, stream, want string
	}{
		{"protocol v0", pkt(strings.Repeat("a", 40)+" HEAD\x00multi_ack\n") + "0000", ErrNotV2.Error()},
		{"err packet", pkt("ERR access denied\n"), "remote: access denied"},
		{"bad length", "00zz", "bad pkt-line length"},
		{"truncated", caps + pkt("packfile\n") + "0010\x01PA", "short pkt-line"},
		{"sideband 3", caps + pkt("packfile\n") + pkt("\x03out of memory\n"), "remote: out of memory"},
		{"no packfile", caps + pkt("shallow-info\n") + "0000", "no packfile section"},
		{"bad shallow line", caps + pkt("shallow-info\n") + pkt("shallow xyz\n") + "0001", "bad shallow-info line"},
		{"unknown band", caps + pkt("packfile\n") + pkt("\x07?"), "unknown sideband 7"},
		{"data after pack", caps + pkt("packfile\n") + pkt("\x01PACK") + pkt("\x01more") + "0000", "data after the pack's end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Conn{rd: pktReader{r: bufio.NewReader(strings.NewReader(tc.stream))}, w: io.Discard, diag: func() string { return "" }}
			err := c.handshake()
			if err == nil {
				err = c.Fetch(FetchRequest{Wants: []string{strings.Repeat("1", 40)}, Depth: 1}, nil, func(_ []string, pack io.Reader) error {
					var four [4]byte
					_, err := io.ReadFull(pack, four[:])
					return err
				})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// upload-pack's keepalive while pack-objects works (an empty band-1
// packet, uploadpack.keepAlive) is not data; progress goes where asked.
func TestKeepaliveAndProgress(t *testing.T) {
	pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
	stream := pkt("version 2\n") + pkt("fetch=shallow\n") + "0000" +
		pkt("shallow-info\n") + pkt("shallow "+strings.Repeat("1", 40)+"\n") + "0001" +
		pkt("packfile\n") + "0005\x01" + pkt("\x02Enumerating objects: 3\r") + "0005\x01" + pkt("\x01PACK") + pkt("\x01-rest") + "0000"
	c := &Conn{rd: pktReader{r: bufio.NewReader(strings.NewReader(stream))}, w: io.Discard, diag: func() string { return "" }}
	if err := c.handshake(); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	var got []byte
	var shallow []string
	err := c.Fetch(FetchRequest{Wants: []string{strings.Repeat("1", 40)}, Depth: 1, Progress: true}, &progress, func(s []string, pack io.Reader) error {
		shallow = s
		var err error
		got, err = io.ReadAll(pack)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "PACK-rest" || len(shallow) != 1 || progress.String() != "Enumerating objects: 3\r" {
		t.Errorf("pack %q, shallow %v, progress %q", got, shallow, progress.String())
	}
}

// A server without shallow support is reported as unsupported before any
// request is sent.
func TestShallowUnsupported(t *testing.T) {
	pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
	var sent bytes.Buffer
	c := &Conn{rd: pktReader{r: bufio.NewReader(strings.NewReader(pkt("version 2\n") + pkt("fetch\n") + "0000"))}, w: &sent, diag: func() string { return "" }}
	if err := c.handshake(); err != nil {
		t.Fatal(err)
	}
	err := c.Fetch(FetchRequest{Wants: []string{strings.Repeat("1", 40)}, Depth: 1}, nil, nil)
	if !errors.Is(err, ErrUnsupported) || sent.Len() != 0 {
		t.Fatalf("err %v, sent %q", err, sent.String())
	}
}
