package upload

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Sending new files as one tar stream.
//
// Over SFTP every 32 KiB write is a request with its own header and its
// own status reply, and OpenSSH carries each request as two SSH packets
// (its session channel's packets hold 32 KiB of payload), so the server's
// sshd handles about three packets per 32 KiB and sftp-server answers each
// write; per small file there are open, write, setstat and close round
// trips on top. rsync sends one byte stream with no replies. So when the
// account may run commands and the server has GNU tar, the new files of an
// upload, manifest.json last, go as one archive written here to one remote
// command (tarScript), which runs
//
//	tar -x -v --quoting-style=literal -p -m --no-same-owner -b 256 -f -
//
// in the partial directory: one packet per 32 KiB, no replies, no round
// trip per file. Starting a remote command runs the account's login shell
// (a second of CPU on a host with a heavy ~/.bashrc), so the same command
// also verifies and flushes: GNU tar prints each member's name when it
// starts on it, after it has written and closed the one before, so a
// shell loop on those names hands each completed file to HASHCMD (openssl
// dgst -sha256 -r, else sha256sum), whose lines come back here in archive
// order while the stream goes on; after tar, "sync -f ." (else sync) makes
// the tree durable before the rename. In the common case the upload then
// runs one command on the server besides sftp-server.
//
// Nothing of ours is parsed by a shell there: the command is a constant,
// the directory is its first input line, and file names are archive data
// (tar refuses absolute names and ".."; they reach HASHCMD as "./NAME"
// words, never as options). Members are regular files only, with the
// upload's file mode (-p: no umask) and the extraction time as mtime (-m),
// as SFTP writes give; -b 256 makes tar read and write 128 KiB at a time
// instead of 10 KiB. Directories and symlinks are made over SFTP before
// the stream. Resumed files (offset > 0), and everything when the server
// cannot run the command (no exec channel, no GNU tar), go over SFTP.

// tarRecord is the archive's record size: -b 256 blocks of 512 bytes.
const tarRecord = 256 * 512

// The stream command's answers, each on a line of its own.
const (
	tarReady = "XTBUILD-TAR-READY" // GNU tar is there; send "go" and the archive
	tarEnd   = "XTBUILD-TAR-END"   // + tar's exit status
	tarSync  = "XTBUILD-TAR-SYNC"  // + the flush's exit status
	tarHashN = 8                   // the first files are hashed one by one (the largest)
	tarHashB = 64                  // then in batches of this many
)

// tarScript is the stream command (see above). The first tarHashN files,
// the largest as the archive is ordered, are hashed one by one, so their
// sums come back while the rest are on the wire, and their write-back to
// disk is started then (sync -d in the background), so the flush at the
// end finds little left; the rest are hashed in batches.
var tarScript = `IFS= read -r d || exit 0; ` +
	`v=$(tar --version 2>/dev/null | head -n 1); case $v in *"GNU tar"*) ;; *) echo "not GNU tar: $v"; exit 0;; esac; ` +
	`if openssl dgst -sha256 -r /dev/null >/dev/null 2>&1; then h="openssl dgst -sha256 -r"; else h="sha256sum -b --"; fi; ` +
	`echo ` + tarReady + `; IFS= read -r go || exit 0; cd -- "$d" || exit 1; exec 3>&1; ` +
	`s=$( { { tar -x -v --quoting-style=literal -p -m --no-same-owner -b 256 -f -; echo $? >&4; } | ` +
	`{ n=0; IFS= read -r p || exit 0; set --; while IFS= read -r f; do set -- "$@" "./$p"; p=$f; n=$((n+1)); ` +
	`if [ $n -le ` + fmt.Sprint(tarHashN) + ` ]; then $h "$@"; sync -d -- "$@" </dev/null >/dev/null 2>&1 & set --; ` +
	`elif [ $# -ge ` + fmt.Sprint(tarHashB) + ` ]; then $h "$@"; set --; fi; done; ` +
	`$h "$@" "./$p"; } >&3; } 4>&1 ); ` +
	`echo "` + tarEnd + ` $s"; [ "$s" = 0 ] || exit 0; { sync -f . || sync; } >&2; echo "` + tarSync + ` $?"`

// streamFile is one file for stream: written from its start, hashed here
// as it is read when hashLocal.
type streamFile struct {
	f         fileEntry
	hashLocal bool
}

// streamer is a backend that can write many new files as one stream.
type streamer interface {
	// streamOK reports whether streaming may work on this connection.
	streamOK() bool
	// stream writes files, in order, from scratch under dir (whose
	// subdirectories exist), each with mode. As the destination hashes
	// each stored file it calls stored, from one goroutine, with the
	// file's index and result (the local sum if it hashed the file here,
	// and the destination's); files the destination did not hash come
	// last without it, for the caller to hash there. flushed reports that
	// the destination made everything durable after the last file.
	// On an error, n is the index of the file being sent when it
	// happened (len when the archive was complete). An error matching
	// errStreamStart means nothing was sent.
	stream(ctx context.Context, dir string, files []streamFile, mode fs.FileMode, sent func(int), stored func(int, putResult)) (n int, flushed bool, err error)
}

// errStreamStart marks a stream that could not start: nothing was sent,
// and the files can go over SFTP instead.
var errStreamStart = errors.New("cannot start the tar stream")

// streamOK: no "sftp" transport, no "readback" verification, and no
// earlier answer from the server that it cannot run the stream.
func (b *sftpBackend) streamOK() bool {
	return !b.noStream && !b.noTar.Load() && b.verify != "readback"
}

// tarSession is the stream command, started and answering: ready (GNU tar
// is there) or not.
type tarSession struct {
	dir   string
	s     *ssh.Session
	in    io.WriteCloser
	out   *bufio.Reader
	msgs  *headWriter
	ready bool
	err   error // why it is not ready
}

// startTar starts the stream command for dir. Its first input line, the
// directory, goes out before anything is read: on an account forced to
// SFTP (ForceCommand internal-sftp) the sftp-server there takes it for a
// malformed packet and hangs up instead of waiting for us.
func startTar(conn *ssh.Client, dir string) *tarSession {
	t := &tarSession{dir: dir, msgs: &headWriter{max: 4 << 10}}
	if strings.ContainsAny(dir, "\n\r") {
		t.err = fmt.Errorf("the directory name %q has a line break", dir)
		return t
	}
	var err error
	if t.s, err = conn.NewSession(); err != nil {
		t.err = err
		return t
	}
	t.s.Stderr = t.msgs
	var out io.Reader
	if t.in, err = t.s.StdinPipe(); err == nil {
		out, err = t.s.StdoutPipe()
	}
	if err == nil {
		err = t.s.Start("sh -c " + shellQuote(tarScript))
	}
	if err == nil {
		_, err = io.WriteString(t.in, dir+"\n")
	}
	if err != nil {
		t.s.Close()
		t.err = err
		return t
	}
	t.out = bufio.NewReader(out)
	first, err := t.out.ReadString('\n')
	if first = strings.TrimSpace(first); first == tarReady {
		t.ready = true
		return t
	}
	t.s.Close()
	if err == nil {
		t.err = fmt.Errorf("%s", first)
	} else {
		t.err = fmt.Errorf("%w %s", err, firstLine(t.msgs.String()))
	}
	return t
}

// takePre hands out the session started with the connection, once (nil
// after that, or when none was started).
func (b *sftpBackend) takePre() chan *tarSession {
	b.preMu.Lock()
	defer b.preMu.Unlock()
	pre := b.pre
	b.pre = nil
	return pre
}

// takeTar returns the session started with the connection if it is for
// dir, or a new one.
func (b *sftpBackend) takeTar(dir string) *tarSession {
	if pre := b.takePre(); pre != nil {
		t := <-pre
		if t.dir == dir {
			return t
		}
		if t.s != nil {
			t.s.Close()
		}
	}
	return startTar(b.conn, dir)
}

// closeTar ends a started session that was never used.
func (b *sftpBackend) closeTar() {
	if pre := b.takePre(); pre != nil {
		go func() {
			if t := <-pre; t.s != nil {
				t.s.Close()
			}
		}()
	}
}

func (b *sftpBackend) stream(ctx context.Context, dir string, files []streamFile, mode fs.FileMode, sent func(int), stored func(int, putResult)) (int, bool, error) {
	t := b.takeTar(dir)
	if !t.ready {
		if t.s != nil && !b.dead.Load() {
			b.noTar.Store(true) // it ran and said no, or hung up
		}
		slog.Debug("upload: the server cannot take a tar stream; writing files over SFTP", "why", t.err)
		return 0, false, fmt.Errorf("%w: %w", errStreamStart, t.err)
	}
	s, in, out, msgs := t.s, t.in, t.out, t.msgs
	defer s.Close()
	// Ctrl-C ends the archive where it is (the next read of a file fails,
	// and the writer closes the input), so tar on the server writes out
	// what it has and exits; a writer stuck on a stalled connection, or a
	// server that does not exit, is cut off by closing the session 2 s
	// later.
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(2*time.Second, func() { s.Close() })
	})
	defer stop()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		return 0, false, fmt.Errorf("%w: %w", errStreamStart, err)
	}
	slog.Debug("upload: tar stream started", "files", len(files))

	// The writer records each member's local result; the reader of the
	// server's hash lines completes it. Line i is file i: it comes only
	// after tar has read the next member's header (or the archive's
	// end), which follows file i's bytes, so res[i] is set by then.
	var mu sync.Mutex
	res := make([]putResult, len(files))
	type ending struct {
		hashed, tarStatus, syncStatus int
		err                           error
	}
	readDone := make(chan ending, 1)
	go func() {
		e := ending{tarStatus: -1, syncStatus: -1}
		for {
			l, err := out.ReadString('\n')
			if err != nil {
				if err != io.EOF {
					e.err = err
				}
				readDone <- e
				return
			}
			l = strings.TrimSuffix(l, "\n")
			if v, ok := strings.CutPrefix(l, tarEnd+" "); ok {
				e.tarStatus = atoiOr(v, -1)
				continue
			}
			if v, ok := strings.CutPrefix(l, tarSync+" "); ok {
				e.syncStatus = atoiOr(v, -1)
				continue
			}
			if e.err != nil {
				continue // out of step: the rest are hashed apart
			}
			// "HEX *./NAME" from openssl -r and sha256sum -b alike; a
			// line for another file (the command failed on one) puts the
			// answers out of step.
			var sum sum
			if e.hashed >= len(files) || len(l) < 2*sha256.Size || l[2*sha256.Size:] != " *./"+files[e.hashed].f.rel {
				e.err = fmt.Errorf("unexpected line from the server: %q", firstLine(l))
				continue
			}
			if _, err := hex.Decode(sum[:], []byte(l[:2*sha256.Size])); err != nil {
				e.err = fmt.Errorf("unexpected line from the server: %q", firstLine(l))
				continue
			}
			mu.Lock()
			r := res[e.hashed]
			mu.Unlock()
			r.remote, r.hashedRemote = sum, true
			stored(e.hashed, r)
			e.hashed++
		}
	}()
	n, werr := writeTar(ctx, in, files, mode, sent, func(i int, r putResult) {
		mu.Lock()
		res[i] = r
		mu.Unlock()
	})
	if werr == nil {
		werr = in.Close()
	} else {
		in.Close()
	}
	err := s.Wait()
	e := <-readDone
	slog.Debug("upload: tar stream ended", "err", err, "tar", e.tarStatus, "sync", e.syncStatus, "hashed", e.hashed)
	if ctx.Err() != nil {
		return n, false, ctx.Err()
	}
	if err == nil && e.tarStatus != 0 {
		err = fmt.Errorf("exit status %d", e.tarStatus)
	}
	if err != nil {
		// tar's own message says more than a broken pipe here.
		return n, false, fmt.Errorf("tar -x on the server: %w: %s", err, firstLine(msgs.String()))
	}
	if werr != nil {
		return n, false, werr
	}
	if e.err != nil {
		slog.Debug("upload: stream hashes incomplete; hashing the rest apart", "hashed", e.hashed, "err", e.err)
	}
	for i := e.hashed; i < len(files); i++ {
		stored(i, res[i])
	}
	if e.syncStatus != 0 {
		slog.Debug("upload: the stream's flush failed; flushing apart", "status", e.syncStatus, "msg", firstLine(msgs.String()))
	}
	return n, e.syncStatus == 0, nil
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// writeTar writes files as a tar archive to w, padded to whole records,
// calls done for each member written and returns how many it wrote.
func writeTar(ctx context.Context, w io.Writer, files []streamFile, mode fs.FileMode, sent func(int), done func(int, putResult)) (int, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, tarRecord)
	tw := tar.NewWriter(bw)
	buf := make([]byte, 1<<20)
	for i, sf := range files {
		r, err := writeMember(ctx, tw, sf, mode, sent, buf)
		if err != nil {
			return i, err
		}
		// Reported complete only when tar names the next member (which
		// follows these bytes) or exits.
		done(i, r)
	}
	last := max(len(files)-1, 0)
	if err := tw.Close(); err != nil {
		return last, err
	}
	if err := bw.Flush(); err != nil {
		return last, err
	}
	if pad := (tarRecord - cw.n%tarRecord) % tarRecord; pad > 0 {
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return last, err
		}
	}
	return len(files), nil
}

func writeMember(ctx context.Context, tw *tar.Writer, sf streamFile, mode fs.FileMode, sent func(int), buf []byte) (putResult, error) {
	var res putResult
	f := sf.f
	src, err := openSource(f.local)
	if err != nil {
		return res, err
	}
	defer src.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.rel, Size: f.size, Mode: int64(mode.Perm()), ModTime: f.mtime}
	if err := tw.WriteHeader(hdr); err != nil {
		return res, fmt.Errorf("stream %s: %w", f.rel, err)
	}
	var h hash.Hash
	if sf.hashLocal {
		h = sha256.New()
	}
	n, err := io.CopyBuffer(tw, io.LimitReader(source(ctx, src, h, sent), f.size), buf)
	if err != nil {
		return res, fmt.Errorf("stream %s: %w", f.rel, err)
	}
	if n != f.size {
		return res, fmt.Errorf("stream %s: the file shrank to %d bytes while being sent (%d when the upload started)", f.local, n, f.size)
	}
	res.finishLocal(h)
	return res, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// headWriter keeps the first max bytes written to it: a remote command's
// messages, for the error.
type headWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (h *headWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *headWriter) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(h.b)
}
