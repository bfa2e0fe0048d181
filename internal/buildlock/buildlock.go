// Package buildlock keeps two xtbuild processes from working in one build
// directory at once (two bitbakes sharing TMPDIR corrupt each other).
package buildlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is returned when another process holds the lock.
var ErrLocked = errors.New("build directory is locked by another xtbuild")

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f *os.File
}

// Acquire takes an exclusive, non-blocking flock on DIR/.xtbuild.lock. The
// kernel drops the lock when the process dies, so a crash never leaves a
// stale lock behind; the pid written inside is only for the error message.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create build dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, ".xtbuild.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w: %s (held by pid %s); wait for it to finish or stop it", ErrLocked, dir, pid)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	err := l.f.Close()
	l.f = nil
	return err
}

// Wait takes an exclusive flock on the file at path (created if missing),
// waiting while another process holds it, until ctx is done. It guards a
// resource several build dirs share (a git mirror in the layer store),
// where waiting is right; Acquire's refusal is for a build dir.
func Wait(ctx context.Context, path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create lock dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ErrWouldBlock is returned (wrapped) by TryFile when another process holds
// a conflicting lock.
var ErrWouldBlock = errors.New("locked by another process")

// TryFile takes a non-blocking flock on the file at path: shared or
// exclusive. With create the file is made when missing; without it a
// missing file gives (nil, nil), so a read-only tree that never had a writer
// needs no lock file. The kernel drops the lock when the process dies.
func TryFile(path string, shared, create bool) (*Lock, error) {
	flag, how := os.O_RDONLY, syscall.LOCK_EX
	if create {
		flag = os.O_RDWR | os.O_CREATE
	}
	if shared {
		how = syscall.LOCK_SH
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if errors.Is(err, os.ErrNotExist) && !create {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrWouldBlock
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}
