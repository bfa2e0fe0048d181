package upload

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// sshServer is a real OpenSSH sshd on a loopback port, with a throwaway
// host key and user key, running as the current user.
type sshServer struct {
	dir        string
	port       int
	user       string
	identity   string // user private key
	knownHosts string // trusts this server's host key
	hostPub    string // "ssh-ed25519 AAAA..."
	pid        int    // the listening sshd
}

const sshdPath = "/usr/sbin/sshd"

func needSSHD(t testing.TB) {
	t.Helper()
	testenv.NeedFile(t, sshdPath, "openssh-server")
	testenv.LookPath(t, "ssh-keygen", "openssh-client")
}

func keygen(t testing.TB, file string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "xtbuild-upload-test", "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	return f[0] + " " + f[1]
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSSHD runs sshd -D -e until the test ends. extra lines go at the end
// of sshd_config (Match blocks).
func startSSHD(t testing.TB, extra ...string) *sshServer {
	t.Helper()
	needSSHD(t)
	if os.Geteuid() == 0 {
		// sshd refuses to start as root without its privilege separation
		// directory, which Debian creates only when the service starts.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("create /run/sshd: %v", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{dir: t.TempDir(), user: u.Username}
	s.hostPub = keygen(t, filepath.Join(s.dir, "host_key"))
	userPub := keygen(t, filepath.Join(s.dir, "user_key"))
	s.identity = filepath.Join(s.dir, "user_key")
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), []byte(userPub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxSessions 64
MaxStartups 64
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server -u 0077
%s
`, s.port, filepath.Join(s.dir, "host_key"), filepath.Join(s.dir, "sshd.pid"),
			filepath.Join(s.dir, "authorized_keys"), strings.Join(extra, "\n"))
		cfg := filepath.Join(s.dir, "sshd_config")
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfg)
		// Its own process group, so the per-connection children go with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitListening(s.port, exited) {
			s.pid = cmd.Process.Pid
			t.Cleanup(func() {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				if t.Failed() && stderr.Len() > 0 {
					t.Logf("sshd log:\n%s", stderr.String())
				}
			})
			break
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if attempt == 2 {
			t.Fatalf("sshd did not start: %s", stderr.String())
		}
	}
	s.knownHosts = s.writeKnownHosts(t, "known_hosts", s.port, s.hostPub)
	return s
}

func waitListening(port int, exited chan error) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// writeKnownHosts writes a known_hosts file trusting key for this server.
func (s *sshServer) writeKnownHosts(t testing.TB, name string, port int, key string) string {
	t.Helper()
	f := filepath.Join(s.dir, name)
	line := ""
	if key != "" {
		line = fmt.Sprintf("[127.0.0.1]:%d %s\n", port, key)
	}
	if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (s *sshServer) url(dir string) string {
	return fmt.Sprintf("sftp://%s@127.0.0.1:%d%s", s.user, s.port, dir)
}

// sshArgs are OpenSSH client options for rsync/scp against this server,
// checking the host key exactly as upload does.
func (s *sshServer) sshArgs() []string {
	return []string{"-i", s.identity, "-o", "UserKnownHostsFile=" + s.knownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// cutProxy forwards TCP to the sshd and kills the first `cuts` connections
// once the client has sent more than limit bytes: a network failure in the
// middle of an upload, on a real connection.
type cutProxy struct {
	port  int
	limit int64
	cuts  atomic.Int32
	conns atomic.Int32
}

func startCutProxy(t testing.TB, target int, limit int64, cuts int32) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{port: l.Addr().(*net.TCPAddr).Port, limit: limit}
	p.cuts.Store(cuts)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			go p.serve(c, target)
		}
	}()
	return p
}

func (p *cutProxy) serve(c net.Conn, target int) {
	defer c.Close()
	up, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(target))
	if err != nil {
		return
	}
	defer up.Close()
	cut := p.cuts.Add(-1) >= 0
	go func() {
		io.Copy(c, up)
		c.Close()
	}()
	if !cut {
		io.Copy(up, c)
		return
	}
	io.CopyN(up, c, p.limit)
	// Reset rather than close politely, as a dropped link would.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}
