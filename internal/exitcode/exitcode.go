// Package exitcode maps errors to xtbuild's documented process exit codes:
// 0 ok, 1 failure, 2 bad config or usage, 130 interrupted. Commands with a
// meaning of their own (verify, nvlock check) attach their code explicitly.
package exitcode

import (
	"context"
	"errors"
)

// Documented exit codes (README "Exit codes").
const (
	OK          = 0
	Failure     = 1
	Usage       = 2
	Interrupted = 130
)

// Error carries an exit code with an error. It implements ExitStatus, the
// interface Mage's generated main looks for on the returned error.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string   { return e.Err.Error() }
func (e *Error) Unwrap() error   { return e.Err }
func (e *Error) ExitStatus() int { return e.Code }

// With attaches code to err (nil stays nil).
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// UsageError marks err as a configuration or usage mistake (exit 2).
func UsageError(err error) error { return With(Usage, err) }

// Of returns the exit code for err: an attached code wins, a cancelled
// context means the user interrupted us, anything else is a failure.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var st interface{ ExitStatus() int }
	if errors.As(err, &st) {
		return st.ExitStatus()
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return Failure
}

// ForMage returns err in the shape Mage's main understands: the outermost
// error must itself implement ExitStatus, so wrapping would lose the code.
func ForMage(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Of(err), Err: err}
}
