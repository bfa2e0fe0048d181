package mirror

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xtbuild/xtbuild/internal/buildlock"
)

// lockName is the flock file that keeps two writers (populate, add) apart.
const lockName = ".xtbuild-mirror.lock"

// ErrBusy is returned when another process is writing the mirror.
var ErrBusy = errors.New("mirror is being written by another xtbuild")

// lockMirror takes an exclusive, non-blocking lock on the mirror. The
// kernel releases it when the process dies, so a killed populate never
// leaves a stale lock.
func lockMirror(dir string) (*buildlock.Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create mirror dir: %w", err)
	}
	l, err := buildlock.TryFile(filepath.Join(dir, lockName), false, true)
	if errors.Is(err, buildlock.ErrWouldBlock) {
		return nil, fmt.Errorf("%w: %s; wait for it to finish", ErrBusy, dir)
	}
	return l, err
}

// lockShared keeps Verify from reading a mirror while a writer holds it,
// which would report files in flight as problems. A mirror without a lock
// file never had a writer; it may be read-only (a carried disk), so the
// lock file is neither created nor opened for writing (nil lock, nil error).
func lockShared(dir string) (*buildlock.Lock, error) {
	l, err := buildlock.TryFile(filepath.Join(dir, lockName), true, false)
	if errors.Is(err, buildlock.ErrWouldBlock) {
		return nil, fmt.Errorf("%w: %s; verify when it has finished", ErrBusy, dir)
	}
	return l, err
}
