package upload

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sftpBackend publishes over SFTP. Paths are used as given: absolute, or
// relative to the login directory (the server resolves them).
type sftpBackend struct {
	conn *ssh.Client
	sc   *sftp.Client
	dest Destination

	verify    string // "readback" forbids hashing on the server
	probeOnce sync.Once
	hasher    *remoteHasher // nil: read files back to hash them
	noStream  bool          // no tar stream (Options.Transport "sftp")
	preMu     sync.Mutex
	pre       chan *tarSession // the tar stream started with the connection, taken once
	noTar     atomic.Bool      // the server's tar cannot take the stream
	fsync     bool
	posix     bool

	dead     atomic.Bool
	stopCtx  func() bool
	stopOnce sync.Once
	done     chan struct{}
}

// sftp tuning: 64 outstanding 32 KiB requests per file keep a loopback or
// LAN link busy without exceeding OpenSSH's default channel windows.
const sftpConcurrency = 64

// newSFTPBackend starts the SFTP subsystem on conn and, so that the
// account's login shell runs for both at once, the tar stream into
// streamDir (tar_sftp.go) or, without one, the control shell
// (hash_sftp.go), which then does the hashing and the flush. With a
// stream the control shell starts only if needed.
func newSFTPBackend(ctx context.Context, conn *ssh.Client, d Destination, verify, streamDir string) (*sftpBackend, error) {
	b := &sftpBackend{conn: conn, dest: d, verify: verify, noStream: streamDir == "", done: make(chan struct{})}
	if b.streamOK() {
		pre := make(chan *tarSession, 1)
		b.pre = pre
		go func() { pre <- startTar(conn, streamDir) }()
	} else {
		go b.hashCommand()
	}
	sc, err := sftp.NewClient(conn,
		sftp.UseConcurrentWrites(true),
		sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(sftpConcurrency),
	)
	if err != nil {
		conn.Close()
		b.closeTar()
		return nil, fmt.Errorf("start sftp subsystem on %s: %w", d.Addr(), err)
	}
	b.sc = sc
	_, b.fsync = sc.HasExtension("fsync@openssh.com")
	_, b.posix = sc.HasExtension("posix-rename@openssh.com")
	// Ctrl-C must not wait for a stalled server: closing the connection
	// aborts every outstanding request at once.
	b.stopCtx = context.AfterFunc(ctx, func() { conn.Close() })
	go func() {
		conn.Wait()
		b.dead.Store(true)
		close(b.done)
	}()
	go b.keepalive()
	slog.Debug("sftp session", "dest", d.String(), "fsync", b.fsync, "posix-rename", b.posix)
	return b, nil
}

// keepalive notices a silently dead link (a NAT that dropped the flow) so
// the upload fails over to a retry instead of hanging forever.
func (b *sftpBackend) keepalive() {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			if !b.ping(30 * time.Second) {
				slog.Debug("sftp keepalive failed; closing connection", "dest", b.dest.String())
				b.conn.Close()
				return
			}
		}
	}
}

// ping sends an OpenSSH keepalive request; any reply, even a refusal,
// proves the connection is alive.
func (b *sftpBackend) ping(timeout time.Duration) bool {
	if b.dead.Load() {
		return false
	}
	res := make(chan error, 1)
	go func() {
		_, _, err := b.conn.SendRequest("keepalive@openssh.com", true, nil)
		res <- err
	}()
	select {
	case err := <-res:
		return err == nil
	case <-time.After(timeout):
		return false
	case <-b.done:
		return false
	}
}

func (b *sftpBackend) broken() bool {
	if b.dead.Load() {
		return true
	}
	if !b.ping(5 * time.Second) {
		b.conn.Close()
		return true
	}
	return false
}

func (b *sftpBackend) close() error {
	b.stopCtx()
	b.closeTar()
	b.sc.Close()
	b.conn.Close()
	<-b.done
	// A probe still running (started with the connection) ends with it.
	b.probeOnce.Do(func() {})
	if b.hasher != nil {
		b.hasher.close()
	}
	return nil
}

func sftpInfo(fi fs.FileInfo) remoteInfo { return infoOf(fi) }

func (b *sftpBackend) lstat(_ context.Context, p string) (remoteInfo, error) {
	fi, err := b.sc.Lstat(p)
	if err != nil {
		return remoteInfo{}, err
	}
	return sftpInfo(fi), nil
}

func (b *sftpBackend) mkdir(_ context.Context, p string, mode fs.FileMode) error {
	if err := b.sc.Mkdir(p); err != nil {
		return err
	}
	// The server applies its own umask to Mkdir; SETSTAT is exact.
	return b.sc.Chmod(p, mode)
}

func (b *sftpBackend) chmod(_ context.Context, p string, mode fs.FileMode) error {
	return b.sc.Chmod(p, mode)
}

func (b *sftpBackend) list(ctx context.Context, root string) (map[string]remoteInfo, error) {
	out := map[string]remoteInfo{}
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		fis, err := b.sc.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, fi := range fis {
			r := path.Join(rel, fi.Name())
			ri := sftpInfo(fi)
			out[r] = ri
			if ri.kind == kindDir {
				if err := walk(path.Join(dir, fi.Name()), r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(root, "")
}

// countingReader reports progress as the sftp client pulls data.
type countingReader struct {
	r    io.Reader
	sent func(int)
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.sent(n)
	}
	return n, err
}

func (b *sftpBackend) put(ctx context.Context, f fileEntry, p string, offset int64, mode fs.FileMode, hashLocal bool, sent func(int)) (putResult, error) {
	var res putResult
	src, err := openSource(f.local)
	if err != nil {
		return res, err
	}
	defer src.Close()
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	dst, err := b.sc.OpenFile(p, flags)
	if err != nil {
		return res, err
	}
	defer dst.Close()
	h, err := resumeAt(src, dst, offset, f.local, hashLocal)
	if err != nil {
		return res, err
	}
	r := source(ctx, src, h, sent)
	// A large file sent from the start is hashed at the destination while
	// it arrives (see streamHash); anything else is hashed after.
	var sh *streamHash
	if offset == 0 && f.size >= streamHashMin && b.hashCommand() != "" {
		if sh, err = startStreamHash(b.conn, b.hasher.cmd, p); err != nil {
			slog.Debug("upload: hashing while receiving unavailable", "file", p, "err", err)
			sh = nil
		}
	}
	defer sh.abort()
	var n int64
	if sh == nil {
		n, err = dst.ReadFromWithConcurrency(r, sftpConcurrency)
	} else {
		n, err = sh.send(dst, r)
	}
	if err != nil {
		return res, err
	}
	if offset > 0 { // a fresh file was opened with O_TRUNC
		if err := dst.Truncate(offset + n); err != nil {
			return res, err
		}
	}
	if b.fsync && !b.batchSync() {
		if err := dst.Sync(); err != nil {
			return res, fmt.Errorf("fsync: %w", err)
		}
	}
	if err := dst.Chmod(mode); err != nil {
		return res, err
	}
	if err := dst.Close(); err != nil {
		return res, err
	}
	res.finishLocal(h)
	if sh != nil {
		if s, err := sh.finish(); err == nil {
			res.remote, res.hashedRemote = s, true
		} else if ctx.Err() == nil {
			// Not fatal: the file is then hashed after the transfer.
			slog.Debug("upload: hash while receiving failed", "file", p, "err", err)
		}
	}
	return res, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (b *sftpBackend) symlink(_ context.Context, target, link string) error {
	return b.sc.Symlink(target, link)
}

func (b *sftpBackend) readlink(_ context.Context, p string) (string, error) {
	return b.sc.ReadLink(p)
}

func (b *sftpBackend) rename(_ context.Context, oldp, newp string) error {
	// Plain SSH_FXP_RENAME never overwrites an existing name.
	return b.sc.Rename(oldp, newp)
}

func (b *sftpBackend) replace(_ context.Context, oldp, newp string) error {
	if !b.posix {
		return fmt.Errorf("server lacks posix-rename@openssh.com, so %s cannot be replaced atomically", newp)
	}
	return b.sc.PosixRename(oldp, newp)
}

func (b *sftpBackend) removeAll(_ context.Context, p string) error { return b.sc.RemoveAll(p) }

func (b *sftpBackend) syncDir(context.Context, string) error { return nil }

// batchSync reports whether syncTree makes the upload durable in one
// command on the server, so put need not fsync each file. OpenSSH's
// sftp-server handles one request at a time, so an fsync@openssh.com per
// file stalls every transfer for a journal commit (40-80 ms each on a busy
// disk, thousands of times for a build's packages); with an exec channel
// one "sync -f" flushes the whole tree before the rename instead.
func (b *sftpBackend) batchSync() bool { return b.hashCommand() != "" }

// syncTree asks the control shell (hash_sftp.go) to run "sync -f DIR"
// (syncfs(2) on the filesystem holding DIR, coreutils 8.24 or later) or,
// failing that, "sync" on the server. When neither can run, each file is
// fsynced over SFTP instead; an account with no exec channel had put
// fsync each file already.
func (b *sftpBackend) syncTree(ctx context.Context, dir string, files []string) error {
	if !b.batchSync() {
		return nil // put fsynced each file
	}
	err := b.hasher.flush(ctx, dir)
	if err == nil {
		return nil
	}
	if b.dead.Load() || ctx.Err() != nil {
		return err
	}
	slog.Debug("upload: remote sync failed", "err", err)
	if !b.fsync {
		return fmt.Errorf("cannot make %s durable: %w, and the server lacks fsync@openssh.com", dir, err)
	}
	for _, p := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := b.sc.OpenFile(p, os.O_WRONLY)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("fsync %s: %w", p, err)
		}
	}
	return nil
}
