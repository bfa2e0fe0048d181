package upload

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// transientError marks a failure that a reconnect may cure.
type transientError struct{ err error }

func (t *transientError) Error() string { return t.err.Error() }
func (t *transientError) Unwrap() error { return t.err }

func transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err}
}

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// isNetworkFailure recognises the errors a flaky network produces, as
// opposed to refusals (permissions, full disk, bad keys) that a retry
// would only repeat.
func isNetworkFailure(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []error{syscall.ECONNRESET, syscall.ECONNABORTED, syscall.ECONNREFUSED,
		syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN,
		io.EOF, io.ErrUnexpectedEOF, sftp.ErrSSHFxConnectionLost, sftp.ErrSSHFxNoConnection} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff is the wait before retry n (0-based): 1s, 2s, 4s ... capped at
// 30s, with up to 25% jitter so many builders do not reconnect in step.
func backoff(n int, base time.Duration) time.Duration {
	d := base << min(n, 5)
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
