package poller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	git "github.com/go-git/go-git/v5"
)

// batch is what one target is told about one repository in one poll.
type batch struct {
	repo   *repoRun
	git    *git.Repository
	events []Event
	after  Refs

	mu      sync.Mutex
	changes []Change // computed once, shared by change hooks
	done    bool
}

// target is a place events are delivered to.
type target interface {
	Name() string
	// Deliver hands the batch over. j holds the parts that got through in
	// an earlier attempt of the same batch (before a crash too), so a retry
	// resends none of them; each part that gets through is journalled in j
	// before the next one is sent.
	Deliver(ctx context.Context, b *batch, j ledger) error
}

// hookTarget runs a command as git would run post-receive.
type hookTarget struct {
	cfg HookConfig
	log *slog.Logger
}

func (h *hookTarget) Name() string { return h.cfg.Name }

func (h *hookTarget) Deliver(ctx context.Context, b *batch, j ledger) error {
	input := PostReceiveInput(b.events)
	sum := sha256.Sum256(input)
	for _, project := range projectsOf(b.repo) {
		key := "hook\x00" + project + "\x00" + hex.EncodeToString(sum[:])
		if j.Has(key) {
			continue
		}
		err := retry(ctx, h.cfg.Retries, h.cfg.RetryDelay.D(), h.log, func() error {
			return h.run(ctx, b, project, input)
		}, "repo", b.repo.Name, "hook", h.cfg.Name, "project", project)
		if err != nil {
			return err
		}
		if err := j.Mark(key); err != nil {
			return err
		}
	}
	return nil
}

func (h *hookTarget) run(ctx context.Context, b *batch, project string, input []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout.D())
	defer cancel()
	r := strings.NewReplacer("{project}", project, "{repository}", b.repo.URL, "{gitdir}", b.repo.GitDir, "{name}", b.repo.Name)
	var argv []string
	for _, a := range h.cfg.Command {
		if project == "" && strings.Contains(a, "{project}") {
			continue
		}
		argv = append(argv, r.Replace(a))
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(input)
	// Unlike twobit, keep the environment: a hook without PATH cannot run git.
	cmd.Env = append(os.Environ(), "GIT_DIR="+b.repo.GitDir, "XTPOLL_REPOSITORY="+b.repo.URL, "XTPOLL_PROJECT="+project, "XTPOLL_NAME="+b.repo.Name)
	for k, v := range h.cfg.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = b.repo.GitDir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// A hook that leaves children holding its output must not hang us.
	cmd.WaitDelay = 5 * time.Second
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Run(); err != nil {
		// argv[0] only: later arguments may carry git_buildbot.py's --auth.
		return fmt.Errorf("run hook %s for %s: %w: %s", argv[0], b.repo.Name, err, tail(out.Bytes(), 2048))
	}
	if out.Len() > 0 {
		h.log.Debug("hook output", "repo", b.repo.Name, "hook", h.cfg.Name, "project", project, "output", tail(out.Bytes(), 4096))
	}
	return nil
}

// changeHookTarget posts to buildbot's /change_hook/base, one request per
// change, as contrib/post_build_request.py does.
//
// One POST at a time per change hook (mu), each journalled before the next:
// a kill duplicates at most the one POST in flight.
type changeHookTarget struct {
	mu       sync.Mutex
	cfg      ChangeHookConfig
	password string
	client   *http.Client
	log      *slog.Logger
}

func (c *changeHookTarget) Name() string { return c.cfg.Name }

func (c *changeHookTarget) Deliver(ctx context.Context, b *batch, j ledger) error {
	changes, err := b.computeChanges(ctx)
	if err != nil {
		return err
	}
	for _, project := range projectsOf(b.repo) {
		for _, ch := range changes {
			key := "http\x00" + project + "\x00" + ch.Branch + "\x00" + ch.Revision
			if j.Has(key) {
				continue
			}
			err := retry(ctx, c.cfg.Retries, c.cfg.RetryDelay.D(), c.log, func() error {
				c.mu.Lock()
				defer c.mu.Unlock()
				if err := c.post(ctx, b, project, ch); err != nil {
					return err
				}
				// Journalled before the next POST may start. Not retried:
				// the master has the change, posting it again duplicates it.
				if err := j.Mark(key); err != nil {
					return noRetry{err}
				}
				return nil
			}, "repo", b.repo.Name, "change_hook", c.cfg.Name, "project", project, "revision", ch.Revision)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// errRejected marks a change the master refused as malformed; resending it
// cannot help, so it is logged and skipped instead of blocking the repo.
type errRejected struct{ msg string }

func (e errRejected) Error() string { return e.msg }

func (c *changeHookTarget) post(ctx context.Context, b *batch, project string, ch Change) error {
	files, err := json.Marshal(nonNil(ch.Files))
	if err != nil {
		return fmt.Errorf("encode files: %w", err)
	}
	form := url.Values{
		"revision":   {ch.Revision},
		"branch":     {ch.Branch},
		"repository": {b.repo.URL},
		"project":    {project},
		"author":     {ch.Author},
		"comments":   {ch.Comments},
		"files":      {string(files)},
	}
	if !ch.When.IsZero() {
		form.Set("when_timestamp", strconv.FormatInt(ch.When.Unix(), 10))
	}
	if c.cfg.Category != "" {
		form.Set("category", c.cfg.Category)
	}
	if c.cfg.Codebase != "" {
		form.Set("codebase", c.cfg.Codebase)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("build change hook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.cfg.User != "" {
		req.SetBasicAuth(c.cfg.User, c.password)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("post change to %s: %s", redactURL(c.cfg.URL), scrub(err.Error(), c.cfg.URL))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusBadRequest {
		c.log.Error("master rejected change; skipping it", "repo", b.repo.Name, "revision", ch.Revision, "status", resp.Status, "body", string(body))
		return nil
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post change to %s: %s: %s", redactURL(c.cfg.URL), resp.Status, tail(body, 512))
	}
	return nil
}

func (b *batch) computeChanges(ctx context.Context) ([]Change, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.changes, nil
	}
	var all []Change
	for _, ev := range b.events {
		chs, err := Changes(ctx, b.git, ev, b.after, b.repo.maxCommits)
		if err != nil {
			return nil, fmt.Errorf("compute changes of %s %s: %w", b.repo.Name, ev.Ref, err)
		}
		all = append(all, chs...)
	}
	b.changes, b.done = all, true
	return all, nil
}

func projectsOf(r *repoRun) []string {
	if len(r.Projects) == 0 {
		return []string{""}
	}
	return r.Projects
}

// retry runs f up to 1+n times, waiting delay, 2×delay, ... in between, and
// logs every failure with the given attributes.
// A noRetry error ends the attempts at once.
func retry(ctx context.Context, n int, delay time.Duration, log *slog.Logger, f func() error, attrs ...any) error {
	var err error
	for attempt := 0; ; attempt++ {
		if err = f(); err == nil {
			return nil
		}
		var nr noRetry
		if errors.As(err, &nr) {
			return nr.err
		}
		log.Warn("delivery failed", append(attrs, "attempt", attempt+1, "err", err)...)
		if attempt >= n {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(delay << attempt):
		}
	}
}

// noRetry marks an error that another attempt cannot cure.
type noRetry struct{ err error }

func (e noRetry) Error() string { return e.err.Error() }

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
