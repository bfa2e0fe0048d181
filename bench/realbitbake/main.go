// Command realbitbake prepares build directories for the real-BitBake
// check (bench/real-bitbake.sh): it runs setupoe for the main build of a
// configuration, or for one of its board profiles, and prints what the
// check needs to drive BitBake by hand in that build dir.
//
//	realbitbake -config xtbuild.toml [-board NAME]
//
// Output, one "key value" per line: builddir, machine and image pairs
// ("step NAME MACHINE TARGET..."), and "layer NAME COMMIT BRANCH DIR".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/term"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/steps"
)

func main() {
	cfgPath := flag.String("config", "xtbuild.toml", "configuration file")
	board := flag.String("board", "", "board profile to set up instead of the main build")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *cfgPath, *board); err != nil {
		fmt.Fprintln(os.Stderr, "realbitbake:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfgPath, board string) error {
	c, err := config.Load(cfgPath, os.Getenv)
	if err != nil {
		return err
	}
	if board != "" {
		if c, err = c.ForBoard(board); err != nil {
			return err
		}
	}
	opts, err := config.LoadOptions(os.Getenv)
	if err != nil {
		return err
	}
	e := &steps.Env{Config: c, Options: opts, Term: term.NewPlain(os.Stderr), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := steps.SetupOE(ctx, e); err != nil {
		return err
	}
	p, err := plan.Resolve(c, nil)
	if err != nil {
		return err
	}
	fmt.Printf("builddir %s\n", c.BuildDir())
	for _, s := range p.Steps {
		if s.Kind == config.KindBitbake {
			fmt.Printf("step %s %s %s\n", s.Name, s.Machine, strings.Join(s.Images, " "))
		}
	}
	lock, err := layers.ReadLock(c.LockFile())
	if err != nil {
		return err
	}
	for _, l := range c.Layers {
		commit, _ := lock.Commit(l.Name)
		fmt.Printf("layer %s %s %s %s\n", l.Name, commit, l.Branch, c.LayerDir(l))
	}
	return nil
}
