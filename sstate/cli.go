package sstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// RunPublish is the sstate:publish target: the build dir's SSTATE_DIR
// (paths.sstate) into mirrors.sstate_publish.
func RunPublish(ctx context.Context, c *config.Config, w io.Writer, log *slog.Logger) error {
	dst := c.Mirrors.SstatePublish
	if dst == "" {
		return exitcode.UsageError(errors.New("sstate:publish: mirrors.sstate_publish is not set (the shared directory to publish into)"))
	}
	src := c.Abs(c.Paths.Sstate)
	res, err := Publish(ctx, src, dst, log)
	if err != nil {
		return fmt.Errorf("sstate:publish: %w", err)
	}
	fmt.Fprintf(w, "sstate:publish %s -> %s: %s\n", src, dst, res)
	return nil
}
