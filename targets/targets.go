// Package targets implements xtbuild's Mage targets. magefile.go only
// forwards to these functions, so every target is ordinary, testable Go.
// Each target loads the config and options once, owns signal handling (an
// hours-long bitbake needs more than Mage's 5 s of cleanup), and returns an
// error Mage turns into the documented exit code.
package targets

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/internal/term"
	"github.com/xtbuild/xtbuild/steps"
)

// Stdout is where user-facing output goes; tests replace it.
var Stdout = os.Stdout

// run loads the environment and runs fn with a context that SIGINT and
// SIGTERM cancel. The returned error carries the exit code for Mage.
func run(fn func(ctx context.Context, e *steps.Env) error) error {
	ctx, stop := interruptContext()
	defer stop()
	e, err := Load(nil)
	if err != nil {
		return finish(e, err)
	}
	return finish(e, fn(ctx, e))
}

// Load builds the step environment from the config file and XTBUILD_*
// variables (getenv nil: the process environment).
func Load(getenv config.Getenv) (*steps.Env, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	t := term.New(Stdout)
	level := slog.LevelInfo
	if getenv("XTBUILD_DEBUG") != "" || getenv("MAGEFILE_VERBOSE") == "1" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	e := &steps.Env{Term: t, Log: log}
	opts, err := config.LoadOptions(getenv)
	if err != nil {
		return e, err
	}
	e.Options = opts
	cfg, err := config.Load("", getenv)
	if err != nil {
		return e, err
	}
	e.Config = cfg
	return e, nil
}

// finish prints the last line buildbot shows (what failed) and attaches
// the exit code.
func finish(e *steps.Env, err error) error {
	if err == nil {
		return nil
	}
	code := exitcode.Of(err)
	if code == exitcode.Interrupted {
		err = fmt.Errorf("interrupted: %w", err)
	}
	return &exitcode.Error{Code: code, Err: err}
}

// interruptContext is cancelled by SIGINT or SIGTERM. Mage's generated main
// also listens for SIGINT and exits 5 s after it; we take the signals over
// (signal.Reset) so a bitbake shutdown can take as long as it needs. Mage
// registers its handler just after starting the target, hence the second
// Reset a moment later.
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	second := make(chan struct{})
	take := func() {
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	}
	take()
	done := make(chan struct{})
	go func() {
		select {
		case <-time.After(200 * time.Millisecond):
			take()
		case <-done:
			return
		}
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		// A second Ctrl-C stops bitbake harder, as it does without us.
		select {
		case <-ch:
			close(second)
		case <-done:
		}
	}()
	return steps.WithSecondInterrupt(ctx, second), func() {
		close(done)
		signal.Stop(ch)
		cancel()
	}
}
