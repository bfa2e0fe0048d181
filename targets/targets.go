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
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/steps"
)

// Stdout is where user-facing output goes; tests replace it.
var Stdout = os.Stdout

// run loads the build context and runs fn with a context that SIGINT and
// SIGTERM cancel. The returned error carries the exit code for Mage.
func run(fn func(ctx context.Context, b *pipe.Build) error) error {
	ctx, stop := interruptContext()
	defer stop()
	b, err := Load(nil)
	if err != nil {
		return finish(b, err)
	}
	return finish(b, fn(ctx, b))
}

// Load builds the build context from the config file and XTBUILD_*
// variables (getenv nil: the process environment): options, the terminal,
// the one logger every package gets, and the config. The plan is resolved by
// the targets that build (pipeline.Resolve).
func Load(getenv config.Getenv) (*pipe.Build, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	opts, optErr := config.LoadOptions(getenv)
	level := slog.LevelInfo
	if opts.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	b := &pipe.Build{Term: term.New(Stdout, opts.Plain), Log: log, Options: opts}
	if optErr != nil {
		return b, optErr
	}
	cfg, err := config.Load("", getenv)
	if err != nil {
		return b, err
	}
	b.Config = cfg
	return b, nil
}

// finish prints the last line buildbot shows (what failed) and attaches
// the exit code.
func finish(_ *pipe.Build, err error) error {
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
