package upload

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchBytes is the build size for BenchmarkUpload: 2 GiB as in
// PERFORMANCE.md, or XTBUILD_UPLOAD_BENCH_BYTES for quick runs.
func benchBytes(b *testing.B) int64 {
	if s := os.Getenv("XTBUILD_UPLOAD_BENCH_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 16<<20 {
			b.Fatalf("XTBUILD_UPLOAD_BENCH_BYTES=%q: want a byte count of at least 16 MiB", s)
		}
		return n
	}
	return 2 << 30
}

// benchBuild creates (once, cached under the temp dir) a build of size n
// shaped like a real one: a few large images and a few thousand small
// packages, all incompressible.
func benchBuild(b *testing.B, n int64) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("xtbuild-upload-bench-%d", n), testName)
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	big := []struct {
		rel  string
		frac float64
	}{
		{"iso/installer.iso", 0.40},
		{"update/update.tar", 0.30},
		{"repository/packages.main/dom0-rootfs.ext3.gz", 0.10},
		{"repository/packages.main/uivm-rootfs.ext3.vhd.gz", 0.05},
		{"repository/packages.main/ndvm-rootfs.ext3.disk.vhd.gz", 0.05},
		{"netboot/rootfs.i686.cpio.gz", 0.03},
		{"netboot/vmlinuz", 0.004},
	}
	var used int64
	for i, f := range big {
		size := int64(float64(n) * f.frac)
		writeRandom(b, filepath.Join(dir, f.rel), size, uint64(i))
		used += size
	}
	// The rest as packages of 4-76 KiB.
	for i := 0; used < n; i++ {
		size := min(int64(4<<10+(i*7919)%(72<<10)), n-used)
		writeRandom(b, filepath.Join(dir, "packages", "ipk", fmt.Sprintf("core2-32/pkg%05d.ipk", i)), size, uint64(1000+i))
		used += size
	}
	writeFile(b, filepath.Join(dir, ManifestName), `{"name":"`+testName+`"}`+"\n")
	return dir
}

// BenchmarkUpload publishes one build to a local sshd with upload, and
// copies the same files with rsync -a over ssh and scp -r, each into a
// fresh destination. See bench/upload.sh for the min/median summary.
func BenchmarkUpload(b *testing.B) {
	n := benchBytes(b)
	src := benchBuild(b, n)
	s := startSSHD(b)
	destRoot := b.TempDir()
	ssh := "ssh " + strings.Join(s.sshArgs(), " ")
	remote := fmt.Sprintf("%s@127.0.0.1", s.user)

	run := func(b *testing.B, copyOnce func(dest string)) {
		b.SetBytes(n)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dest := filepath.Join(destRoot, "d")
			os.RemoveAll(dest)
			if err := os.MkdirAll(filepath.Join(dest, "master"), 0o755); err != nil {
				b.Fatal(err)
			}
			exec.Command("sync").Run() // start each run without the last one's dirty pages
			b.StartTimer()
			copyOnce(dest)
		}
	}
	b.Run("xtbuild-sftp", func(b *testing.B) {
		run(b, func(dest string) {
			_, err := Publish(context.Background(), Options{Src: src, Dest: s.url(dest), Branch: "master",
				KnownHosts: s.knownHosts, Identity: s.identity})
			if err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("rsync-ssh", func(b *testing.B) {
		run(b, func(dest string) {
			cmd := exec.Command("rsync", "-a", "-e", ssh+" -p "+strconv.Itoa(s.port),
				src+"/", remote+":"+filepath.Join(dest, "master", testName)+"/")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
		})
	})
	b.Run("scp", func(b *testing.B) {
		run(b, func(dest string) {
			args := append([]string{"-q", "-r", "-P", strconv.Itoa(s.port)}, s.sshArgs()...)
			cmd := exec.Command("scp", append(args, src, remote+":"+filepath.Join(dest, "master", testName))...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
		})
	})
}
