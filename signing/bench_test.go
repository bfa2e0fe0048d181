package signing

import (
	"bufio"
	"context"
	"crypto"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xtbuild/xtbuild/manifest"
)

// benchBytes is the artifact set size: XTBUILD_BENCH_BYTES (a number with an
// optional K/M/G suffix), 4 GiB by default as in the performance goals.
func benchBytes(b *testing.B) int64 {
	v := os.Getenv("XTBUILD_BENCH_BYTES")
	if v == "" {
		return 4 << 30
	}
	mult := int64(1)
	switch strings.ToUpper(v[len(v)-1:]) {
	case "K":
		mult, v = 1<<10, v[:len(v)-1]
	case "M":
		mult, v = 1<<20, v[:len(v)-1]
	case "G":
		mult, v = 1<<30, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("XTBUILD_BENCH_BYTES=%q: want e.g. 256M or 4G", os.Getenv("XTBUILD_BENCH_BYTES"))
	}
	return n * mult
}

var (
	benchOnce  sync.Once
	benchDir   string
	benchFiles []string
	benchErr   error
)

// benchSet writes an artifact set shaped like an OpenXT repository (a few
// large images, a tarball, a small ISO) once per test binary.
func benchSet(b *testing.B) (dir string, files []string, total int64) {
	total = benchBytes(b)
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "xtbuild-bench-*")
		if benchErr != nil {
			return
		}
		shares := []struct {
			name  string
			share float64
		}{
			{"dom0-rootfs.ext3.gz", 0.40}, {"uivm-rootfs.ext3.vhd.gz", 0.25}, {"ndvm-rootfs.ext3.disk.vhd.gz", 0.20},
			{"syncvm-rootfs.ext3.vhd.gz", 0.10}, {"control.tar.bz2", 0.04}, {"xc-tools.iso", 0.01},
		}
		rng := rand.NewChaCha8([32]byte{1})
		buf := make([]byte, 4<<20)
		var written int64
		for i, s := range shares {
			size := int64(float64(total) * s.share)
			if i == len(shares)-1 {
				size = total - written
			}
			p := filepath.Join(benchDir, s.name)
			f, err := os.Create(p)
			if err != nil {
				benchErr = err
				return
			}
			w := bufio.NewWriterSize(f, len(buf))
			for left := size; left > 0; {
				n := min(left, int64(len(buf)))
				rng.Read(buf[:n])
				w.Write(buf[:n])
				left -= n
			}
			if err := w.Flush(); err != nil {
				benchErr = err
			}
			f.Close()
			written += size
			benchFiles = append(benchFiles, p)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir, benchFiles, total
}

// BenchmarkRepositoryHashSign times what WriteRepository does after copying:
// hash every payload, write the XC-PACKAGES lines, build XC-REPOSITORY and
// sign it, against the shell pipelines OpenXT used on the same files.
//
//	XTBUILD_BENCH_BYTES=4G go test ./signing/ -run '^$' -bench RepositoryHashSign -benchtime 1x -count 5
func BenchmarkRepositoryHashSign(b *testing.B) {
	ossl := needOpenSSL(b)
	dir, files, total := benchSet(b)
	keys := sharedKeys(b)
	s, err := LoadSigner(keys.DevSigningCert, keys.DevSigningKey, "")
	if err != nil {
		b.Fatal(err)
	}
	// Warm the page cache once so every contender reads from memory.
	if _, err := manifest.HashFiles(context.Background(), files, crypto.SHA256, 0); err != nil {
		b.Fatal(err)
	}
	repoFile := filepath.Join(dir, RepositoryFile)
	sigFile := filepath.Join(dir, SignatureFile)
	meta := RepoMeta{Build: "1", Version: "1", Release: "1"}

	ours := func(workers int) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				d, err := manifest.HashFiles(context.Background(), files, crypto.SHA256, workers)
				if err != nil {
					b.Fatal(err)
				}
				var pk strings.Builder
				for i, f := range d {
					fmt.Fprintf(&pk, "c%d %d %s f required %s /\n", i, f.Size, hex.EncodeToString(f.Sum), filepath.Base(f.Path))
				}
				sum := crypto.SHA256.New()
				sum.Write([]byte(pk.String()))
				repo, err := RepositoryContent(meta, sum.Sum(nil))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Sign(repo); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	// The alternatives hash with a CLI, then sign with sign_repo.sh's command.
	shell := func(viaStdin bool, hashArgv ...string) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetBytes(total)
			repo, _ := RepositoryContent(meta, make([]byte, 32))
			if err := os.WriteFile(repoFile, repo, 0o644); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				cmd := exec.Command(hashArgv[0], append(hashArgv[1:], files...)...)
				if viaStdin { // xargs reads the file list from stdin
					cmd = exec.Command(hashArgv[0], hashArgv[1:]...)
					cmd.Stdin = strings.NewReader(strings.Join(files, "\n") + "\n")
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				if out, err := exec.Command(ossl, "smime", "-sign", "-binary", "-in", repoFile, "-out", sigFile, "-outform", "PEM",
					"-signer", keys.DevSigningCert, "-inkey", keys.DevSigningKey).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		}
	}
	b.Run("xtbuild-parallel", ours(0))
	b.Run("xtbuild-1-worker", ours(1))
	b.Run("openssl-dgst+smime", shell(false, ossl, "dgst", "-sha256"))
	b.Run("openssl-dgst-xargs-P2+smime", shell(true, "xargs", "-P", "2", "-n", "1", ossl, "dgst", "-sha256"))
	b.Run("sha256sum+smime", shell(false, "sha256sum"))
}

// BenchmarkSignRepository is the signing share alone: XC-REPOSITORY (1 MiB)
// digest plus an RSA-2048 signature, against one `openssl smime -sign`.
func BenchmarkSignRepository(b *testing.B) {
	ossl := needOpenSSL(b)
	keys := sharedKeys(b)
	s, err := LoadSigner(keys.DevSigningCert, keys.DevSigningKey, "")
	if err != nil {
		b.Fatal(err)
	}
	repo, _ := RepositoryContent(RepoMeta{Build: "1", Version: "1", Release: "1"}, make([]byte, 32))
	b.Run("xtbuild", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Sign(repo); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openssl-smime-sign", func(b *testing.B) {
		dir := b.TempDir()
		in := filepath.Join(dir, RepositoryFile)
		os.WriteFile(in, repo, 0o644)
		for b.Loop() {
			if out, err := exec.Command(ossl, "smime", "-sign", "-binary", "-in", in, "-out", filepath.Join(dir, SignatureFile),
				"-outform", "PEM", "-signer", keys.DevSigningCert, "-inkey", keys.DevSigningKey).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}
