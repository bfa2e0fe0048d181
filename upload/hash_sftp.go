package upload

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Verifying an SFTP upload means hashing the files where they are stored.
// OpenSSH's sftp-server has no check-file extension, so there are two
// ways: run a hashing command on the server, or read every file back and
// hash it here. The command is far cheaper (the server reads its page
// cache; nothing crosses the network twice) but needs an account that may
// run commands; sftp-only accounts (ForceCommand internal-sftp) read back.
//
// Starting a command costs an SSH session, a fork and the account's
// login shell on the server, which may read a heavy ~/.bashrc (on the
// benchmark host about 1 s of CPU for each command), so one long-lived
// control shell per connection does every small job: it reads requests,
// one line each, a verb and shell-quoted paths, and answers each with
// its output and an end marker:
//
//	H paths   hash the files, one line each (HASHCMD)
//	F dir     flush the filesystem holding dir (sync -f, else sync) and
//	          answer "status N"

const hashEnd = "XTBUILD-HASH-END"

// hashCommands are tried in order: openssl first because it is several
// times faster than coreutils' sha256sum on CPUs with SHA extensions.
var hashCommands = []string{"openssl dgst -sha256 -r", "sha256sum -b --"}

type remoteHasher struct {
	mu   sync.Mutex
	cmd  string
	sess *ssh.Session
	in   io.WriteCloser
	out  *bufio.Reader
	dead error
}

func startHasher(conn *ssh.Client, cmd string) (*remoteHasher, error) {
	s, err := conn.NewSession()
	if err != nil {
		return nil, err
	}
	in, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	// Paths arrive shell-quoted by us (shellQuote), so eval sees exactly
	// one word per path. Errors go to stdout, where they break the
	// expected shape of the answer and are reported.
	script := `while IFS=' ' read -r v l; do case $v in ` +
		`H) eval "` + cmd + ` $l" 2>&1;; ` +
		`F) { eval "sync -f -- $l" || sync; } 2>&1; echo "status $?";; ` +
		`*) echo "unknown request $v";; esac; echo ` + hashEnd + `; done`
	if err := s.Start("sh -c " + shellQuote(script)); err != nil {
		s.Close()
		return nil, err
	}
	return &remoteHasher{cmd: cmd, sess: s, in: in, out: bufio.NewReader(out)}, nil
}

func (h *remoteHasher) close() {
	h.in.Close()
	h.sess.Close()
}

// maxHashLine bounds one request, far below any shell's line limits.
const maxHashLine = 64 << 10

func (h *remoteHasher) hash(ctx context.Context, paths []string) ([]sum, error) {
	out := make([]sum, 0, len(paths))
	for len(paths) > 0 {
		n := fitLine(paths)
		sums, err := h.request(ctx, paths[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, sums...)
		paths = paths[n:]
	}
	return out, nil
}

func (h *remoteHasher) request(ctx context.Context, paths []string) ([]sum, error) {
	lines, err := h.do(ctx, "H", paths)
	if err != nil {
		return nil, err
	}
	if len(lines) != len(paths) {
		return nil, fmt.Errorf("hash %d file(s) on the server with %s: %d lines of output: %s", len(paths), h.cmd, len(lines), firstLine(strings.Join(lines, "\n")))
	}
	sums := make([]sum, len(paths))
	for i, l := range lines {
		// sha256sum escapes odd names with a leading backslash; the order
		// of the lines is what identifies the file.
		l = strings.TrimPrefix(l, "\\")
		if len(l) < 2*sha256.Size {
			return nil, fmt.Errorf("hash %s on the server: %s", paths[i], l)
		}
		if _, err := hex.Decode(sums[i][:], []byte(l[:2*sha256.Size])); err != nil {
			return nil, fmt.Errorf("hash %s on the server: %s", paths[i], l)
		}
	}
	return sums, nil
}

// flush makes everything on the filesystem holding dir durable (F).
func (h *remoteHasher) flush(ctx context.Context, dir string) error {
	lines, err := h.do(ctx, "F", []string{dir})
	if err != nil {
		return err
	}
	if len(lines) == 0 || lines[len(lines)-1] != "status 0" {
		return fmt.Errorf("sync -f -- %s and sync on the server failed: %s", dir, strings.Join(lines, "; "))
	}
	return nil
}

// fitLine is how many of paths fit one request line.
func fitLine(paths []string) int {
	n, size := 0, 0
	for n < len(paths) && (n == 0 || size+len(shellQuote(paths[n]))+1 < maxHashLine) {
		size += len(shellQuote(paths[n])) + 1
		n++
	}
	return n
}

// do sends one request and returns the lines of its answer.
func (h *remoteHasher) do(ctx context.Context, verb string, paths []string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dead != nil {
		return nil, h.dead
	}
	stop := context.AfterFunc(ctx, func() { h.sess.Close() })
	defer stop()
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = shellQuote(p)
	}
	if _, err := io.WriteString(h.in, verb+" "+strings.Join(quoted, " ")+"\n"); err != nil {
		h.dead = fmt.Errorf("remote control shell: %w", err)
		return nil, h.dead
	}
	var lines []string
	for {
		l, err := h.out.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			h.dead = fmt.Errorf("remote control shell: %w", err)
			return nil, h.dead
		}
		l = strings.TrimSuffix(l, "\n")
		if l == hashEnd {
			return lines, nil
		}
		lines = append(lines, l)
	}
}

// probeHasher starts a hashing shell and checks its answer for /dev/null.
func probeHasher(conn *ssh.Client) *remoteHasher {
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, c := range hashCommands {
		h, err := startHasher(conn, c)
		if err != nil {
			slog.Debug("remote hashing unavailable", "err", err)
			return nil // the server refuses exec channels altogether
		}
		got, err := h.hash(context.Background(), []string{"/dev/null"})
		if err == nil && hex.EncodeToString(got[0][:]) == emptySHA {
			return h
		}
		slog.Debug("remote hash command unusable", "command", c, "err", err)
		h.close()
	}
	return nil
}

// hashCommand probes the server once, when first needed, and returns the
// hashing command in use ("" when reading back).
func (b *sftpBackend) hashCommand() string {
	b.probeOnce.Do(func() {
		if b.verify != "readback" {
			b.hasher = probeHasher(b.conn)
		}
	})
	if b.hasher == nil {
		return ""
	}
	return b.hasher.cmd
}

func (b *sftpBackend) hash(ctx context.Context, paths []string, _ int64) ([]sum, error) {
	if b.hashCommand() == "" {
		return b.readBack(ctx, paths)
	}
	sums, err := b.hasher.hash(ctx, paths)
	var dead bool
	if err != nil {
		b.hasher.mu.Lock()
		dead = b.hasher.dead != nil
		b.hasher.mu.Unlock()
	}
	if dead && !b.dead.Load() && ctx.Err() == nil {
		// The shell died but the connection lives (a server-side limit,
		// an OOM kill): reading back still verifies.
		slog.Warn("upload: remote hashing shell stopped; reading files back instead", "err", err)
		return b.readBack(ctx, paths)
	}
	return sums, err
}

func (b *sftpBackend) readBack(ctx context.Context, paths []string) ([]sum, error) {
	out := make([]sum, len(paths))
	for i, p := range paths {
		f, err := b.sc.Open(p)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = f.WriteTo(h)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i] = sum(h.Sum(nil))
	}
	return out, nil
}
