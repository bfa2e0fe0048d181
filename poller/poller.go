package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Poller mirrors the configured repositories and delivers their ref events.
type Poller struct {
	cfg     *Config
	state   *State
	log     *slog.Logger
	targets map[string]target
	names   []string // every target name, config order

	mu    sync.Mutex
	repos map[string]*repoRun // key: gitdir
	orgs  []*orgRun
	sem   chan struct{}
	wg    sync.WaitGroup
}

// repoRun is one repository's scheduling and delivery bookkeeping.
type repoRun struct {
	RepoConfig
	maxCommits int
	auth       transport.AuthMethod
	org        string // the organisation that listed it, if any

	mu       sync.Mutex
	busy     bool
	removed  bool
	next     time.Time // not polled before this time
	failures int
	checked  bool // the mirror was verified by this process
}

type orgRun struct {
	cfg    OrgConfig
	client *GitHubClient
	next   time.Time
	fails  int
}

// Result counts what one Cycle did.
type Result struct {
	Polled, Fetched, Cloned, Failed int
	Events                          int // ref events delivered (per target)
}

// New prepares a poller: opens the state file and resolves secrets.
func New(cfg *Config, log *slog.Logger) (*Poller, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := OpenState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	p := &Poller{cfg: cfg, state: st, log: log, targets: map[string]target{}, repos: map[string]*repoRun{},
		sem: make(chan struct{}, cfg.Parallel)}
	for _, h := range cfg.Hooks {
		p.targets[h.Name] = &hookTarget{cfg: h, log: log}
		p.names = append(p.names, h.Name)
	}
	for _, h := range cfg.ChangeHooks {
		pw, err := readSecret(h.PasswordEnv, h.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("change_hook %q password: %w", h.Name, err)
		}
		p.targets[h.Name] = &changeHookTarget{cfg: h, password: pw, client: &http.Client{}, log: log}
		p.names = append(p.names, h.Name)
	}
	for _, r := range cfg.Repos {
		p.addRepo(r, nil, "")
	}
	for _, o := range cfg.Orgs {
		tok, err := readSecret(o.TokenEnv, o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("org %q token: %w", o.Name, err)
		}
		p.orgs = append(p.orgs, &orgRun{cfg: o, client: &GitHubClient{API: o.API, Token: tok, Client: &http.Client{Timeout: cfg.Timeout.D()}}})
	}
	return p, nil
}

// Close releases the state journal. The poller must not be used after.
func (p *Poller) Close() error { return p.state.Close() }

func (p *Poller) addRepo(rc RepoConfig, auth transport.AuthMethod, org string) {
	if rc.PollInterval <= 0 {
		rc.PollInterval = p.cfg.PollInterval
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.repos[rc.GitDir]; ok {
		r.mu.Lock()
		r.removed = false
		r.mu.Unlock()
		return
	}
	p.repos[rc.GitDir] = &repoRun{RepoConfig: rc, maxCommits: p.cfg.MaxCommits, auth: auth, org: org}
}

// Cycle walks the organisations that are due, then polls every repository
// not waiting out a backoff, in parallel, and waits for all of them. It is
// one pass of the daemon, and what --once runs.
func (p *Poller) Cycle(ctx context.Context) (Result, error) {
	p.walkOrgs(ctx, true)
	var res result
	var wg sync.WaitGroup
	now := time.Now()
	for _, r := range p.snapshot() {
		r.mu.Lock()
		skip := r.busy || r.removed || (r.failures > 0 && now.Before(r.next))
		if !skip {
			r.busy = true
		}
		r.mu.Unlock()
		if skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.pollLocked(ctx, context.WithoutCancel(ctx), r, &res)
		}()
	}
	wg.Wait()
	return res.get(), ctx.Err()
}

// Run polls until ctx is cancelled (SIGTERM), each repository on its own
// interval, never more than Parallel at once. A slow or unreachable
// repository holds only its own slot. On cancel, fetches stop at once while
// deliveries already under way finish and save their state.
func (p *Poller) Run(ctx context.Context) error {
	// Tick often enough for the shortest interval, at most once a second.
	tick := time.Second
	for _, r := range p.snapshot() {
		tick = min(tick, r.PollInterval.D()/2)
	}
	tick = max(tick, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var res result
	for {
		p.walkOrgs(ctx, false)
		now := time.Now()
		for _, r := range p.snapshot() {
			r.mu.Lock()
			due := !r.busy && !r.removed && !now.Before(r.next)
			if due {
				r.busy = true
			}
			r.mu.Unlock()
			if due {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					p.pollLocked(ctx, context.WithoutCancel(ctx), r, &res)
				}()
			}
		}
		select {
		case <-ctx.Done():
			p.wg.Wait()
			p.log.Info("poller stopped")
			return nil
		case <-t.C:
		}
	}
}

func (p *Poller) snapshot() []*repoRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := slices.Sorted(maps.Keys(p.repos))
	out := make([]*repoRun, 0, len(keys))
	for _, k := range keys {
		out = append(out, p.repos[k])
	}
	return out
}

// pollLocked polls r (whose busy flag the caller set) in a parallel slot
// and schedules its next poll.
func (p *Poller) pollLocked(ctx, deliverCtx context.Context, r *repoRun, res *result) {
	defer func() {
		r.mu.Lock()
		r.busy = false
		r.mu.Unlock()
	}()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-p.sem }()
	res.polled.Add(1)
	fetchErr, err := p.poll(ctx, deliverCtx, r, res)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case fetchErr != nil && ctx.Err() != nil:
		// Stopping: not the repository's fault.
	case fetchErr != nil:
		r.failures++
		wait := backoff(r.PollInterval.D(), p.cfg.MaxBackoff.D(), r.failures)
		r.next = time.Now().Add(wait)
		res.failed.Add(1)
		p.log.Error("poll failed; backing off", "repo", r.Name, "url", redactURL(r.URL), "failures", r.failures, "retry_in", wait, "err", fetchErr)
	default:
		if r.failures > 0 {
			p.log.Info("repository reachable again", "repo", r.Name, "after_failures", r.failures)
		}
		r.failures = 0
		r.next = time.Now().Add(r.PollInterval.D())
		if err != nil {
			res.failed.Add(1)
			p.log.Error("delivery failed; will retry next poll", "repo", r.Name, "err", err)
		}
	}
}

// backoff doubles the wait per failure, from one interval up to max.
func backoff(interval, max time.Duration, failures int) time.Duration {
	d := interval
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// poll brings one mirror up to date and delivers what moved. fetchErr is a
// failure to reach the repository; deliverErr a failure to hand events on.
func (p *Poller) poll(ctx, deliverCtx context.Context, r *repoRun, res *result) (fetchErr, deliverErr error) {
	gctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout.D())
	defer cancel()
	m := &mirror{dir: r.GitDir, url: r.URL, auth: r.auth}
	// Verify the mirror once per process: a crash of an earlier run (or of
	// an older version) must not leave it damaged for good.
	repo, created, problem, err := m.open(gctx, !r.checked)
	if problem != nil {
		p.log.Warn("mirror damaged; cloned afresh", "repo", r.Name, "dir", r.GitDir, "problem", problem, "repaired", err == nil)
	}
	if err != nil {
		return err, nil
	}
	r.checked = true
	local, err := localRefs(repo)
	if err != nil {
		return err, nil
	}
	if created {
		res.cloned.Add(1)
		p.log.Info("mirrored", "repo", r.Name, "url", redactURL(r.URL), "refs", len(local))
	} else {
		// Ask the remote for its refs first: one round trip, and in the
		// usual case (nothing moved) the only one.
		remote, err := m.remoteRefs(gctx, repo)
		if err != nil {
			return err, nil
		}
		if !maps.Equal(remote, local) {
			if err := m.fetch(gctx); err != nil {
				return fmt.Errorf("fetch %s: %w", redactURL(r.URL), err), nil
			}
			res.fetched.Add(1)
			// Reopen: the fetch added packs go-git has not listed yet.
			if repo, err = m.reopen(); err != nil {
				return err, nil
			}
			if local, err = localRefs(repo); err != nil {
				return err, nil
			}
		}
	}
	if r.Mirror {
		return nil, nil
	}
	var errs []error
	for _, name := range p.targetsOf(r) {
		delivered, seen := p.state.Delivered(r.GitDir, name)
		if !seen {
			// First sight of this repository for this target: record where
			// it stands instead of replaying its whole history.
			if err := p.state.Commit(r.GitDir, r.URL, name, local); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		evs := Diff(delivered, local)
		if len(evs) == 0 {
			continue
		}
		b := &batch{repo: r, git: repo, events: evs, after: local}
		j := ledger{p.state, r.GitDir, name}
		if err := p.targets[name].Deliver(deliverCtx, b, j); err != nil {
			errs = append(errs, fmt.Errorf("deliver %s to %s: %w", r.Name, name, err))
			continue
		}
		// Saved only after delivery: a crash before this line re-sends, on
		// restart, the parts of the batch the journal does not hold (the
		// one in flight); it never loses any.
		if err := p.state.Commit(r.GitDir, r.URL, name, local); err != nil {
			errs = append(errs, err)
			continue
		}
		res.events.Add(int64(len(evs)))
		for _, e := range evs {
			p.log.Info("delivered", "repo", r.Name, "target", name, "ref", e.Ref, "old", e.Old, "new", e.New)
		}
	}
	return nil, errors.Join(errs...)
}

func (p *Poller) targetsOf(r *repoRun) []string {
	if len(r.Deliver) > 0 {
		return r.Deliver
	}
	return p.names
}

// ledger is one target's journal of the pending batch of one mirror.
type ledger struct {
	state          *State
	gitdir, target string
}

// Has reports whether part key was accepted already (before a crash, or in
// an earlier attempt of this poll).
func (l ledger) Has(key string) bool { return l.state.Accepted(l.gitdir, l.target, key) }

// Mark journals part key as accepted, durably, before the next part goes.
func (l ledger) Mark(key string) error { return l.state.Accept(l.gitdir, l.target, key) }

// walkOrgs refreshes the repository lists of the organisations that are due
// (all of them when force is set and they are not backing off).
func (p *Poller) walkOrgs(ctx context.Context, force bool) {
	now := time.Now()
	for _, o := range p.orgs {
		if now.Before(o.next) && (!force || o.fails > 0) {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout.D())
		list, err := o.client.ListRepos(wctx, o.cfg.Kind, o.cfg.Name)
		cancel()
		if err != nil {
			o.fails++
			o.next = now.Add(backoff(o.cfg.WalkInterval.D(), p.cfg.MaxBackoff.D(), o.fails))
			var rl *RateLimitError
			if errors.As(err, &rl) && rl.Reset.After(o.next) {
				o.next = rl.Reset
			}
			p.log.Error("walk organisation failed; keeping the last list", "org", o.cfg.Name, "retry_at", o.next, "err", err)
			continue
		}
		o.fails = 0
		o.next = now.Add(o.cfg.WalkInterval.D())
		var auth transport.AuthMethod
		if o.client.Token != "" && o.cfg.Clone == "https" {
			auth = &githttp.BasicAuth{Username: "x-access-token", Password: o.client.Token}
		}
		want := map[string]bool{}
		for _, rc := range orgRepos(o.cfg, list) {
			want[rc.GitDir] = true
			p.addRepo(rc, auth, o.cfg.Name)
		}
		p.mu.Lock()
		for dir, r := range p.repos {
			if r.org == o.cfg.Name && !want[dir] {
				r.mu.Lock()
				if !r.removed {
					p.log.Info("repository left the organisation; no longer polled (mirror kept)", "repo", r.Name)
				}
				r.removed = true
				r.mu.Unlock()
			}
		}
		p.mu.Unlock()
	}
}

// Repos lists the repositories currently polled (after organisation walks).
func (p *Poller) Repos() []RepoConfig {
	var out []RepoConfig
	for _, r := range p.snapshot() {
		r.mu.Lock()
		if !r.removed {
			out = append(out, r.RepoConfig)
		}
		r.mu.Unlock()
	}
	return out
}

type result struct {
	polled, fetched, cloned, failed, events atomic.Int64
}

func (r *result) get() Result {
	return Result{Polled: int(r.polled.Load()), Fetched: int(r.fetched.Load()), Cloned: int(r.cloned.Load()),
		Failed: int(r.failed.Load()), Events: int(r.events.Load())}
}
