package upload

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/internal/term"
)

// TestStreamHostileNames publishes, through the tar stream, files whose
// names a shell, tar or the hashing command could take for something
// else: quotes, $(...), spaces, a leading dash, globs, non-ASCII, a name
// that is not UTF-8, a name longer than ustar's 100 bytes (a PAX header)
// and a path deeper than its 155-byte prefix. Every file must arrive as
// itself, be hashed by the server as itself (one hash line per file, in
// order), and nothing may run.
func TestStreamHostileNames(t *testing.T) {
	s := startSSHD(t)
	paranoidUmask(t)
	root := t.TempDir()
	src := makeBuild(t, root, 1<<20)
	home, _ := os.UserHomeDir()
	pwned := filepath.Join(home, "xtbuild-pwned")
	os.Remove(pwned)
	names := []string{
		"it's.ipk", `"quoted".ipk`, "$(touch " + pwned + ").ipk", "`touch " + pwned + "`.ipk",
		"with space.ipk", "-dash.ipk", "--version", "*.ipk", "?", "[a-z]", "semi;colon&amp|pipe>x<y",
		"ünïcødé-пакет.ipk", strings.Repeat("l", 150) + ".ipk",
		filepath.Join(strings.Repeat("d", 90), strings.Repeat("e", 90), "deep file.ipk"),
		"tab\there.ipk",
	}
	for i, n := range names {
		writeRandom(t, filepath.Join(src, "odd", n), int64(100+i*37), uint64(900+i))
	}
	writeRandom(t, filepath.Join(src, "-top"), 77, 7) // a top-level name with a dash
	// Not UTF-8 (Latin-1), which a PAX record cannot hold: archive/tar
	// writes a GNU header for it, which GNU tar reads.
	writeRandom(t, filepath.Join(src, "odd", "caf\xe9.ipk"), 55, 8)
	st := publishChecked(t, s, src, filepath.Join(root, "dest"))
	if st.Streamed != st.Files || st.HashedReceiving != st.Files || st.Verified != st.Files {
		t.Errorf("stats %+v: want all %d files streamed and each hashed by the server as tar finished it", st, st.Files)
	}
	if _, err := os.Stat(pwned); err == nil {
		os.Remove(pwned)
		t.Error("a file name was executed on the server")
	}
}

// TestStreamFallsBackWithoutGNUTar: a server whose tar is not GNU tar
// (here a bsdtar stand-in first on PATH) gets every file over SFTP, and
// the upload is as complete and verified as with the stream.
func TestStreamFallsBackWithoutGNUTar(t *testing.T) {
	bin := t.TempDir()
	// Stand-in for a non-GNU tar: it answers --version as bsdtar does
	// and fails anything else, so a stream sent to it could not succeed.
	asked := filepath.Join(bin, "asked")
	script := "#!/bin/sh\n[ \"$1\" = --version ] && { touch " + asked + "; echo 'bsdtar 3.6.2 - libarchive 3.6.2'; exit 0; }\necho 'not this tar' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "tar"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startSSHD(t, "SetEnv PATH="+bin+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	root := t.TempDir()
	src := makeBuild(t, root, 3<<20)
	st := publishChecked(t, s, src, filepath.Join(root, "dest"))
	if _, err := os.Stat(asked); err != nil {
		t.Fatalf("the server's tar was never asked for its version (%v): the test did not reach the check it is about", err)
	}
	if st.Streamed != 0 || st.Verified != st.Files || st.Sent != st.Bytes {
		t.Errorf("stats %+v: want every file sent over SFTP (none streamed) and verified", st)
	}
}

// publishChecked publishes src to dest on s with default options and
// checks that the destination holds exactly the build.
func publishChecked(t *testing.T, s *sshServer, src, dest string) Stats {
	t.Helper()
	var log bytes.Buffer
	o := Options{Src: src, Dest: s.url(dest), Branch: "master", KnownHosts: s.knownHosts, Identity: s.identity, Term: term.NewPlain(&log)}
	st, err := Publish(context.Background(), o)
	if err != nil {
		t.Fatalf("Publish: %v\n%s", err, log.String())
	}
	checkPublished(t, src, filepath.Join(dest, "master", testName), 0o755, 0o644)
	return st
}

// TestStreamHashOutOfStep: when the server's hashing command fails on one
// file (here a stand-in openssl that refuses it once, then delegates to
// the real one), its answers are one line short; upload must notice the
// answers are out of step rather than pair sums with the wrong files, and
// verify the rest another way.
func TestStreamHashOutOfStep(t *testing.T) {
	real, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl on this machine: the stand-in delegates to it")
	}
	bin := t.TempDir()
	once := filepath.Join(bin, "refused")
	script := "#!/bin/sh\nfor a; do case $a in *victim*) [ -e " + once + " ] || { touch " + once +
		"; echo \"openssl: cannot read $a\" >&2; skip=1; }; esac; done\n" +
		"if [ -n \"$skip\" ]; then set -- $(for a; do case $a in *victim*) ;; *) printf '%s\\n' \"$a\";; esac; done); fi\n" +
		"exec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "openssl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startSSHD(t, "SetEnv PATH="+bin+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	root := t.TempDir()
	src := makeBuild(t, root, 2<<20)
	writeRandom(t, filepath.Join(src, "packages", "ipk", "core2-32", "victim.ipk"), 3000, 77)
	// The archive's order is the upload's: largest first.
	tree, err := readSource(src)
	if err != nil {
		t.Fatal(err)
	}
	victim := -1
	for i, f := range tree.files {
		if strings.Contains(f.rel, "victim") {
			victim = i
		}
	}
	st := publishChecked(t, s, src, filepath.Join(root, "dest"))
	if _, err := os.Stat(once); err != nil {
		t.Fatalf("the stand-in never refused the file (%v): the test did not reach the case it is about", err)
	}
	// The server's sums are taken for the files before the refused one
	// only; from it on (out of step) every file is hashed apart.
	if st.Streamed != st.Files || st.Verified != st.Files || st.HashedReceiving != victim || st.Resent != 0 {
		t.Errorf("stats %+v: want every file streamed and verified, the %d before the refused one by the stream's sums, none resent", st, victim)
	}
}
