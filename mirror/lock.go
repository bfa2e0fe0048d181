package mirror

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockName is the flock file that keeps two writers (populate, add) apart.
const lockName = ".xtbuild-mirror.lock"

// ErrBusy is returned when another process is writing the mirror.
var ErrBusy = errors.New("mirror is being written by another xtbuild")

type lock struct{ f *os.File }

// lockMirror takes an exclusive, non-blocking flock on the mirror. The
// kernel releases it when the process dies, so a killed populate never
// leaves a stale lock.
func lockMirror(dir string) (*lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create mirror dir: %w", err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open mirror lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s; wait for it to finish", ErrBusy, dir)
		}
		return nil, fmt.Errorf("lock mirror %s: %w", dir, err)
	}
	return &lock{f: f}, nil
}

func (l *lock) unlock() {
	if l == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// lockShared keeps Verify from reading a mirror while a writer holds it,
// which would report files in flight as problems. A mirror without a lock
// file never had a writer; it may be read-only (a carried disk), so the
// lock file is neither created nor opened for writing.
func lockShared(dir string) (*lock, error) {
	f, err := os.Open(filepath.Join(dir, lockName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open mirror lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s; verify when it has finished", ErrBusy, dir)
		}
		return nil, fmt.Errorf("lock mirror %s: %w", dir, err)
	}
	return &lock{f: f}, nil
}
