package poller

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Main is the xtpoll command line: poll the configured repositories until
// ctx is cancelled, or once with -once. Exit codes: 0 ok, 1 a repository or
// delivery failed (with -once), 2 bad usage or config.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xtpoll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/xtpoll/xtpoll.toml", "config file: TOML, or a twobit-git-poller INI file")
	once := fs.Bool("once", false, "poll every repository once, deliver, and exit (for cron or CI)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: xtpoll [-config FILE] [-once] [-log-level LEVEL]\n\n"+
			"Mirrors git repositories and GitHub organisations and reports every moved ref\n"+
			"to post-receive style hooks and/or buildbot's /change_hook/base.\n"+
			"Exit codes: 0 ok, 1 a poll or delivery failed (-once), 2 usage or config error.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "xtpoll: bad -log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	cfg, err := Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "xtpoll: %v\n", err)
		return 2
	}
	p, err := New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "xtpoll: %v\n", err)
		return 2
	}
	defer p.Close()
	if *once {
		res, err := p.Cycle(ctx)
		fmt.Fprintf(stdout, "polled %d repositories: %d cloned, %d fetched, %d events delivered, %d failed\n",
			res.Polled, res.Cloned, res.Fetched, res.Events, res.Failed)
		if err != nil {
			fmt.Fprintf(stderr, "xtpoll: interrupted: %v\n", err)
			return 130
		}
		if res.Failed > 0 {
			fmt.Fprintf(stderr, "xtpoll: %d repositories failed (see log)\n", res.Failed)
			return 1
		}
		return 0
	}
	log.Info("polling", "repos", len(cfg.Repos), "orgs", len(cfg.Orgs), "interval", cfg.PollInterval.D(), "parallel", cfg.Parallel)
	if err := p.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "xtpoll: %v\n", err)
		return 1
	}
	return 0
}
