// Command xt is the one static multi-call binary that carries xtbuild's
// platform tools onto target images (oscillator, TPM, TXT, serial).
//
// It dispatches on the name it was invoked as (busybox style, for links such
// as ds1077l-div), then on its first argument (`xt tpm version`). Build it
// with CGO_ENABLED=0; it must import nothing from the build-host packages.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
)

// applet is one command reachable as `xt NAME ...` or through a link named NAME.
type applet struct {
	name    string
	summary string
	// hidden applets (compatibility names) are not listed by `xt` alone.
	hidden bool
	main   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var applets = map[string]applet{}

// register adds an applet; each tool's file in this package calls it from init.
// A name registered twice is a programming error.
func register(a applet) {
	if _, dup := applets[a.name]; dup {
		panic("xt: applet registered twice: " + a.name)
	}
	applets[a.name] = a
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches argv: first on basename(argv[0]), then on argv[1].
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		usage(stderr)
		return 2
	}
	if a, ok := applets[filepath.Base(argv[0])]; ok {
		return a.main(ctx, argv[1:], stdout, stderr)
	}
	if len(argv) < 2 {
		usage(stderr)
		return 2
	}
	switch argv[1] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	a, ok := applets[argv[1]]
	if !ok {
		fmt.Fprintf(stderr, "xt: unknown command %q\n", argv[1])
		usage(stderr)
		return 2
	}
	return a.main(ctx, argv[2:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: xt COMMAND [ARGS...]   (or invoke through a link named after a command)")
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(applets))
	for n, a := range applets {
		if !a.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, applets[n].summary)
	}
}
