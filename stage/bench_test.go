package stage_test

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/stage"
)

// BenchmarkPutAndRestore publishes a step holding one image of
// XTBUILD_BENCH_BYTES (default 256 MiB) and restores it into another build
// dir, both on this machine's filesystem:
//
//	XTBUILD_BENCH_BYTES=1073741824 go test ./stage -run XXX -bench PutAndRestore -benchtime 3x
func BenchmarkPutAndRestore(b *testing.B) {
	size := int64(256 << 20)
	if v := os.Getenv("XTBUILD_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	b.SetBytes(size)
	var put, restore time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bt := newBuilt(b, "")
		bt.image("")
		real := filepath.Join(bt.deploy(), "images", "xenclient-dom0", "xenclient-dom0-image-xenclient-dom0-20261205.rootfs.ext3.gz")
		f, err := os.OpenFile(real, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, size); err != nil {
			b.Fatal(err)
		}
		f.Close()
		bt.record()
		other := newBuilt(b, bt.stage)
		os.RemoveAll(other.b.OutDir())
		os.RemoveAll(other.deploy())
		b.StartTimer()
		t0 := time.Now()
		if err := bt.put(lock1); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := stage.Restore(context.Background(), other.b, []string{"dom0"}, stage.Meta{LockHash: lock1}); err != nil {
			b.Fatal(err)
		}
		put, restore = put+t1.Sub(t0), restore+time.Since(t1)
	}
	b.ReportMetric(put.Seconds()/float64(b.N), "put-s/op")
	b.ReportMetric(restore.Seconds()/float64(b.N), "restore-s/op")
}
