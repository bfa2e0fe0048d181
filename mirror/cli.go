package mirror

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/internal/term"
)

// The Run* functions are what the mirror:* Mage targets call: paths from
// the config, a short human summary on w, errors carrying exit codes
// (internal/exitcode: 1 failure, 2 usage, 130 interrupted).

// RunPopulate copies completed downloads from DL_DIR into the mirror,
// logging to log (nil: slog.Default()).
func RunPopulate(ctx context.Context, c *config.Config, w io.Writer, log *slog.Logger) error {
	dl, dir := c.Abs(c.Paths.Downloads), c.Abs(c.Paths.Mirror)
	st, err := Populate(ctx, dl, dir, Options{Log: log})
	if err != nil {
		return fmt.Errorf("mirror:populate: %w", err)
	}
	fmt.Fprintf(w, "mirror %s: %d added, %d replaced, %d unchanged (%d linked, %d copied, %s)\n",
		dir, st.Added, st.Replaced, st.Unchanged, st.Linked, st.Copied, term.Bytes(st.Bytes))
	for _, s := range st.Skipped {
		fmt.Fprintf(w, "not mirrored: %s\n", s)
	}
	return nil
}

// RunVerify re-hashes the mirror; exit code 1 when anything is wrong.
func RunVerify(ctx context.Context, c *config.Config, w io.Writer) error {
	dir := c.Abs(c.Paths.Mirror)
	rep, err := Verify(ctx, dir)
	for _, p := range rep.Problems {
		fmt.Fprintln(w, p)
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintln(w, "to repair: delete the corrupt files, then run mirror:populate (copies downloads still in DL_DIR again and indexes them) or mirror:add FILE (licence-walled files)")
	}
	if err != nil {
		return fmt.Errorf("mirror:verify: %w", err)
	}
	fmt.Fprintf(w, "mirror %s: %d files, %s, all match %s\n", dir, rep.Files, term.Bytes(rep.Bytes), IndexName)
	return nil
}

// RunServe serves the mirror on addr (DefaultListen when empty) until ctx
// is cancelled, logging requests to log (nil: slog.Default()).
func RunServe(ctx context.Context, c *config.Config, addr string, w io.Writer, log *slog.Logger) error {
	if addr == "" {
		addr = DefaultListen
	}
	srv, err := Listen(c.Abs(c.Paths.Mirror), addr, log)
	if err != nil {
		return exitcode.With(exitcode.Failure, fmt.Errorf("mirror:serve: %w", err))
	}
	fmt.Fprintf(w, "serving %s at %s (Ctrl-C stops)\n", c.Abs(c.Paths.Mirror), srv.URL())
	return srv.Serve(ctx)
}

// RunAdd files a hand-downloaded license-walled file into the mirror.
func RunAdd(ctx context.Context, c *config.Config, file string, w io.Writer) error {
	a, err := AddACM(ctx, c, file)
	if err != nil {
		return fmt.Errorf("mirror:add: %w", err)
	}
	fmt.Fprintf(w, "filed %s as %s (sha256 %s)\n", file, a.Name, a.SHA256)
	return nil
}
