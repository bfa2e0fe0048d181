// Command xtpoll is the git poller daemon (see docs/poller.md). SIGINT and
// SIGTERM stop it cleanly: deliveries under way finish and save their state.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/xtbuild/xtbuild/poller"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := poller.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
