package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/term"
)

func time_(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestSFTPHostKeyRefused(t *testing.T) {
	s := startSSHD(t)
	root := t.TempDir()
	src := makeBuild(t, root, 1<<10)
	dest := filepath.Join(root, "dest")
	otherPub := keygen(t, filepath.Join(root, "other_host_key"))
	cases := []struct {
		name  string
		known string
		want  []string
	}{
		{"unknown", s.writeKnownHosts(t, "empty_known_hosts", s.port, ""),
			[]string{"unknown host key", "never trusts a host on first use", fmt.Sprintf("ssh-keyscan -p %d -t ed25519 127.0.0.1 >> ", s.port)}},
		{"other port only", s.writeKnownHosts(t, "other_port_known_hosts", s.port+1, s.hostPub),
			[]string{"unknown host key"}},
		{"wrong", s.writeKnownHosts(t, "wrong_known_hosts", s.port, otherPub),
			[]string{"HOST KEY MISMATCH", "wrong_known_hosts:1", fmt.Sprintf("ssh-keygen -R '[127.0.0.1]:%d'", s.port)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := Publish(context.Background(), Options{Src: src, Branch: "master", Dest: s.url(dest),
				KnownHosts: c.known, Identity: s.identity, RetryDelay: time.Millisecond})
			var he *HostKeyError
			if !errors.As(err, &he) {
				t.Fatalf("got %v, want a HostKeyError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "SHA256:") {
				t.Errorf("error does not show the presented fingerprint: %v", err)
			}
			if st.Attempts != 1 {
				t.Errorf("a refused host key was retried %d times", st.Attempts)
			}
			if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("something was written to an untrusted host: %v", err)
			}
		})
	}
}

func TestSFTPConnectionCut(t *testing.T) {
	s := startSSHD(t)
	root := t.TempDir()
	src := makeBuild(t, root, 16<<20)

	t.Run("no retries", func(t *testing.T) {
		proxy := startCutProxy(t, s.port, 10<<20, 1)
		dest := filepath.Join(root, "dest1")
		o := Options{Src: src, Branch: "master", Dest: fmt.Sprintf("sftp://%s@127.0.0.1:%d%s", s.user, proxy.port, dest),
			KnownHosts: s.writeKnownHosts(t, "kh1", proxy.port, s.hostPub), Identity: s.identity, Retries: -1, Parallel: 1}
		_, err := Publish(context.Background(), o)
		if err == nil || !isTransient(err) {
			t.Fatalf("got %v, want a transient error", err)
		}
		// The error names the file and the destination.
		if !strings.Contains(err.Error(), "upload iso/installer.iso to ") || !strings.Contains(err.Error(), " at "+o.Dest+": ") {
			t.Errorf("error does not name file and destination: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(dest, "master", testName)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("final name exists after a cut connection: %v", err)
		}
		// How much of the ISO reached the server before the cut depends on
		// what was in flight (SSH window, pipes) and so on load; the resume
		// must keep all of it but the last resumeMargin bytes. The server's
		// tar goes on writing what its pipe still held after the cut: wait
		// until no process works in the partial directory any more.
		partial := filepath.Join(dest, "master", "."+testName+".partial")
		waitNoProcessIn(t, partial)
		fi, err := os.Stat(filepath.Join(partial, "iso", "installer.iso"))
		if err != nil {
			t.Fatalf("no partly written ISO after the cut: %v", err)
		}
		kept := fi.Size() - resumeMargin
		if kept <= 0 {
			t.Fatalf("the cut left %d bytes of the ISO, no more than the resume margin (%d): the test did not reach the case it is about", fi.Size(), resumeMargin)
		}
		// The next run, over a healthy link, resumes.
		st, err := Publish(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		checkPublished(t, src, filepath.Join(dest, "master", testName), 0o755, 0o644)
		if st.Sent != st.Bytes-kept {
			t.Errorf("resume after the cut sent %d of %d bytes; want %d (all but the %d of the ISO kept)", st.Sent, st.Bytes, st.Bytes-kept, kept)
		}
	})

	t.Run("retried", func(t *testing.T) {
		proxy := startCutProxy(t, s.port, 6<<20, 2)
		dest := filepath.Join(root, "dest2")
		var log bytes.Buffer
		o := Options{Src: src, Branch: "master", Dest: fmt.Sprintf("sftp://%s@127.0.0.1:%d%s", s.user, proxy.port, dest),
			KnownHosts: s.writeKnownHosts(t, "kh2", proxy.port, s.hostPub), Identity: s.identity,
			RetryDelay: 10 * time.Millisecond, Term: term.NewPlain(&log)}
		st, err := Publish(context.Background(), o)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		if st.Attempts != 3 || proxy.conns.Load() != 3 {
			t.Errorf("attempts %d over %d connections, want 3 (two cuts)", st.Attempts, proxy.conns.Load())
		}
		if !strings.Contains(log.String(), "retrying in") {
			t.Errorf("retries not reported:\n%s", log.String())
		}
		checkPublished(t, src, filepath.Join(dest, "master", testName), 0o755, 0o644)
	})
}

// An account restricted to SFTP (ForceCommand internal-sftp) cannot run a
// hashing command; upload must fall back to reading the files back.
func TestSFTPOnlyAccountReadsBack(t *testing.T) {
	s := startSSHD(t, "ForceCommand internal-sftp -u 0077")
	paranoidUmask(t)
	root := t.TempDir()
	src := makeBuild(t, root, 2<<20)
	dest := filepath.Join(root, "dest")
	o := Options{Src: src, Branch: "master", Dest: s.url(dest), KnownHosts: s.knownHosts, Identity: s.identity}
	d, _ := ParseDestination(o.Dest)
	conn, err := dialSSH(context.Background(), d, sshSettings{knownHosts: s.knownHosts, identity: s.identity})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSFTPBackend(context.Background(), conn, d, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if c := b.hashCommand(); c != "" {
		t.Errorf("found hashing command %q on an sftp-only account", c)
	}
	b.close()

	st, err := Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkPublished(t, src, filepath.Join(dest, "master", testName), 0o755, 0o644)
	if st.Verified != st.Files || st.Streamed != 0 {
		t.Errorf("verified %d of %d files, streamed %d; want all verified, none streamed (no commands run there)", st.Verified, st.Files, st.Streamed)
	}
	// Corrupt a published file behind upload's back: a re-publish must
	// notice through the read-back hashes.
	p := filepath.Join(dest, "master", testName, "netboot", "vmlinuz")
	data, _ := os.ReadFile(p)
	data[0] ^= 1
	os.WriteFile(p, data, 0o644)
	if _, err := Publish(context.Background(), o); !errors.Is(err, ErrDifferentBuild) {
		t.Errorf("corrupted destination: %v, want ErrDifferentBuild", err)
	}
}

func TestSFTPRemoteHashProbe(t *testing.T) {
	s := startSSHD(t)
	root := t.TempDir()
	dest := filepath.Join(root, "dest")
	d, _ := ParseDestination(s.url(dest))
	ctx := context.Background()
	conn, err := dialSSH(ctx, d, sshSettings{knownHosts: s.knownHosts, identity: s.identity})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSFTPBackend(ctx, conn, d, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if b.hashCommand() == "" {
		t.Fatal("no hashing command found on a Debian server with openssl/coreutils")
	}
	// Names needing shell quoting.
	names := []string{"plain", "with space", "it's", "$(touch pwned)", "-dash"}
	var paths []string
	for i, n := range names {
		writeFile(t, filepath.Join(root, n), strings.Repeat("x", i))
		paths = append(paths, filepath.Join(root, n))
	}
	got, err := b.hasher.hash(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		want, _ := hashFile(ctx, p)
		if got[i] != want {
			t.Errorf("%q: remote hash %x, want %x", names[i], got[i], want)
		}
	}
	home, _ := os.UserHomeDir()
	if _, err := os.Stat(filepath.Join(home, "pwned")); err == nil {
		t.Error("a file name was executed by the remote shell")
	}
	back, err := b.readBack(ctx, paths)
	if err != nil || fmt.Sprint(back) != fmt.Sprint(got) {
		t.Errorf("read-back hashes %x (%v) differ from remote ones %x", back, err, got)
	}
}

// waitNoProcessIn waits until no process has its working directory in dir
// (Linux /proc), as the tar stream's shell and tar on the server do.
func waitNoProcessIn(t *testing.T, dir string) {
	t.Helper()
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // as /proc/PID/cwd names it
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := ""
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
			if err == nil && (cwd == dir || strings.HasPrefix(cwd, dir+"/")) {
				busy = e.Name()
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still works in %s after 10 s", busy, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
