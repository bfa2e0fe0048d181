package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// bufSize is the read size for hashing and copying: large reads keep the
// syscall count low and let the kernel read ahead.
const bufSize = 1 << 20

// hashReader hashes r to EOF with buf, checking ctx between reads. If w is
// not nil every byte read is also written to it (copy and hash in one pass).
func hashReader(ctx context.Context, r io.Reader, w io.Writer, buf []byte) (string, int64, error) {
	h := sha256.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		m, err := r.Read(buf)
		if m > 0 {
			h.Write(buf[:m])
			if w != nil {
				if _, werr := w.Write(buf[:m]); werr != nil {
					return "", n, werr
				}
			}
			n += int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", n, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// hashFile hashes an open file, telling the kernel we read it sequentially
// once.
func hashFile(ctx context.Context, f *os.File, buf []byte) (string, int64, error) {
	adviseSequential(f)
	sum, n, err := hashReader(ctx, f, nil, buf)
	if err != nil {
		return "", n, fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return sum, n, nil
}

// hashPath opens and hashes a file by path.
func hashPath(ctx context.Context, path string, buf []byte) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return hashFile(ctx, f, buf)
}

func adviseSequential(f *os.File) {
	// Advisory only: an error (e.g. on a pipe) changes nothing.
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
}
