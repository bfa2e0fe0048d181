package manifest

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// Manifest hashing against the command-line tools, on the same files:
//
//	XTBUILD_BENCH_BYTES=2147483648 go test ./steps -run XXX -bench Hash -benchtime 3x
//
// The set is a few large images plus many small files, like raw/.

func benchArtifacts(b *testing.B) []string {
	total := int64(256 << 20)
	if v := os.Getenv("XTBUILD_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		total = n
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("xtbuild-hashbench-%d", total))
	var files []string
	large := total * 9 / 10 / 4
	small := int64(1 << 20)
	nSmall := int((total - 4*large) / small)
	add := func(name string, size int64) {
		p := filepath.Join(dir, name)
		files = append(files, p)
		if st, err := os.Stat(p); err == nil && st.Size() == size {
			return
		}
		os.MkdirAll(dir, 0o755)
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, size); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	for i := 0; i < 4; i++ {
		add(fmt.Sprintf("image-%d.ext3.gz", i), large)
	}
	for i := 0; i < nSmall; i++ {
		add(fmt.Sprintf("small-%04d.bin", i), small)
	}
	var sum int64
	for _, f := range files {
		st, _ := os.Stat(f)
		sum += st.Size()
	}
	b.SetBytes(sum)
	return files
}

// BenchmarkHashManifest is xtbuild's manifest hashing: files in parallel.
func BenchmarkHashManifest(b *testing.B) {
	files := benchArtifacts(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := SHA256(context.Background(), files); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashOneStream hashes the files one after another in Go, the
// like-for-like comparison with the single-stream tools.
func BenchmarkHashOneStream(b *testing.B) {
	files := benchArtifacts(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range files {
			if _, err := hashFile(context.Background(), f, crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchTool(b *testing.B, pkg, name string, args ...string) {
	files := benchArtifacts(b)
	testenv.LookPath(b, name, pkg)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(name, append(args, files...)...)
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashSha256sum is coreutils sha256sum over the same files.
func BenchmarkHashSha256sum(b *testing.B) { benchTool(b, "coreutils", "sha256sum") }

// BenchmarkHashOpenssl is `openssl dgst -sha256` over the same files.
func BenchmarkHashOpenssl(b *testing.B) { benchTool(b, "openssl", "openssl", "dgst", "-sha256") }
