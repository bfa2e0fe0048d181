// Command xtbuild-report writes the build report for any BitBake buildstats
// directory, outside of a Mage build: see docs/report.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/xtbuild/xtbuild/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := report.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
