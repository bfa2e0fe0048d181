package poller

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
)

// Config is the poller's whole configuration. Load reads it from TOML,
// LoadINI from a twobit-git-poller INI file; both end in Validate.
type Config struct {
	// BaseDir holds the mirrors; relative GitDirs are resolved against it.
	BaseDir string `toml:"basedir"`
	// StateFile records the last delivered rev of every ref per target.
	// Default: <basedir>/xtpoll-state.json.
	StateFile string `toml:"state_file"`
	// PollInterval is the default time between two polls of a repository.
	PollInterval Duration `toml:"poll_interval"`
	// Parallel caps the repositories polled at once.
	Parallel int `toml:"parallel"`
	// Timeout bounds the ref listing and fetch of one repository.
	Timeout Duration `toml:"timeout"`
	// MaxBackoff caps the wait before retrying a repository that failed.
	MaxBackoff Duration `toml:"max_backoff"`
	// MaxCommits caps the changes sent to the change hook for one ref update
	// (a new branch with an unrelated history would otherwise flood it).
	MaxCommits int `toml:"max_commits"`

	Hooks       []HookConfig       `toml:"hook"`
	ChangeHooks []ChangeHookConfig `toml:"change_hook"`
	Repos       []RepoConfig       `toml:"repo"`
	Orgs        []OrgConfig        `toml:"org"`
}

// HookConfig runs a command like a post-receive hook: GIT_DIR is the mirror,
// stdin carries "old new ref" lines. It runs once per project of the
// repository (once with an empty project if it has none).
type HookConfig struct {
	Name string `toml:"name"`
	// Command is the argv. {project}, {repository} (the URL), {gitdir} and
	// {name} are replaced in each argument; an argument that contains
	// {project} is dropped when the project is empty.
	Command []string          `toml:"command"`
	Env     map[string]string `toml:"env"`
	Timeout Duration          `toml:"timeout"`
	// Retries is how many more times a failed run is tried within one poll.
	Retries    int      `toml:"retries"`
	RetryDelay Duration `toml:"retry_delay"`
}

// ChangeHookConfig posts one change per commit to buildbot's
// /change_hook/base (the "base" dialect).
type ChangeHookConfig struct {
	Name string `toml:"name"`
	URL  string `toml:"url"`
	// User and the password (from PasswordEnv or PasswordFile, never the
	// config itself) give HTTP basic auth when set.
	User         string   `toml:"user"`
	PasswordEnv  string   `toml:"password_env"`
	PasswordFile string   `toml:"password_file"`
	Category     string   `toml:"category"`
	Codebase     string   `toml:"codebase"`
	Timeout      Duration `toml:"timeout"`
	Retries      int      `toml:"retries"`
	RetryDelay   Duration `toml:"retry_delay"`
}

// RepoConfig is one repository to mirror.
type RepoConfig struct {
	// Name is used in logs; default: GitDir without ".git".
	Name string `toml:"name"`
	URL  string `toml:"url"`
	// GitDir is the mirror directory, relative to BaseDir or absolute;
	// default: the URL's last path element with ".git" appended.
	GitDir string `toml:"gitdir"`
	// Projects fans one repository out to several buildbot projects.
	Projects []string `toml:"projects"`
	// Deliver names the hooks and change hooks to notify; empty means all.
	// A repository with Mirror set is mirrored only and notifies nobody.
	Deliver      []string `toml:"deliver"`
	Mirror       bool     `toml:"mirror_only"`
	PollInterval Duration `toml:"poll_interval"`
}

// OrgConfig walks a GitHub organisation (or user) through the REST API and
// mirrors every repository in it.
type OrgConfig struct {
	Name string `toml:"name"`
	// Kind is "org" (default) or "user".
	Kind string `toml:"kind"`
	// API is the REST API base URL; default https://api.github.com.
	API string `toml:"api"`
	// TokenEnv / TokenFile give an optional API token (never the config).
	TokenEnv  string `toml:"token_env"`
	TokenFile string `toml:"token_file"`
	// BaseDir holds this organisation's mirrors; default <basedir>/<name>.
	BaseDir string `toml:"basedir"`
	// Clone selects the URL to mirror from: "https" (clone_url, default)
	// or "ssh" (ssh_url). GitHub no longer serves git://.
	Clone           string   `toml:"clone"`
	IncludeForks    bool     `toml:"include_forks"`
	IncludeArchived bool     `toml:"include_archived"`
	Projects        []string `toml:"projects"`
	Deliver         []string `toml:"deliver"`
	Mirror          bool     `toml:"mirror_only"`
	PollInterval    Duration `toml:"poll_interval"`
	// WalkInterval is the time between two walks of the organisation's
	// repository list; default: the poll interval.
	WalkInterval Duration `toml:"walk_interval"`
}

// Duration reads "5m", "90s" or a bare number of seconds (as twobit wrote it).
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(time.Duration(n * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parse duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults applied by Validate to unset fields.
const (
	DefaultPollInterval = 5 * time.Minute
	DefaultParallel     = 8
	DefaultTimeout      = 2 * time.Minute
	DefaultMaxBackoff   = time.Hour
	DefaultMaxCommits   = 200
	DefaultGitHubAPI    = "https://api.github.com"
)

// Load reads a TOML config strictly: unknown keys are errors.
func Load(path string) (*Config, error) {
	// Relative paths in the file resolve against its directory, whatever
	// the working directory.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read poller config: %w", err)
	}
	if looksLikeINI(data) {
		return ParseINI(data, path)
	}
	var c Config
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("parse %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	if err := c.Validate(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("check %s: %w", path, err)
	}
	return &c, nil
}

// looksLikeINI tells a twobit INI file (first section is [DEFAULT] or has a
// "type =" key) from TOML, so one --config flag takes both.
func looksLikeINI(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line == "[DEFAULT]" {
			return true
		}
		if k, _, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "type" {
			return true
		}
		if k, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "type" && !strings.Contains(line, "=") {
			return true
		}
	}
	return false
}

// Validate fills defaults and checks the config. Relative paths are resolved
// against dir (the config file's directory).
func (c *Config) Validate(dir string) error {
	var errs []error
	if c.BaseDir == "" {
		errs = append(errs, errors.New("basedir is required"))
	} else if !filepath.IsAbs(c.BaseDir) {
		c.BaseDir = filepath.Join(dir, c.BaseDir)
	}
	if c.StateFile == "" {
		c.StateFile = filepath.Join(c.BaseDir, "xtpoll-state.json")
	} else if !filepath.IsAbs(c.StateFile) {
		c.StateFile = filepath.Join(dir, c.StateFile)
	}
	setDur(&c.PollInterval, DefaultPollInterval)
	setDur(&c.Timeout, DefaultTimeout)
	setDur(&c.MaxBackoff, DefaultMaxBackoff)
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.MaxCommits <= 0 {
		c.MaxCommits = DefaultMaxCommits
	}
	names := map[string]bool{}
	addName := func(kind, n string) {
		if n == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", kind))
		} else if names[n] {
			errs = append(errs, fmt.Errorf("%s %q: name used twice", kind, n))
		}
		names[n] = true
	}
	for i := range c.Hooks {
		h := &c.Hooks[i]
		addName("hook", h.Name)
		if len(h.Command) == 0 {
			errs = append(errs, fmt.Errorf("hook %q: command is required", h.Name))
		}
		setDur(&h.Timeout, 5*time.Minute)
		setDur(&h.RetryDelay, 5*time.Second)
		if h.Retries < 0 {
			errs = append(errs, fmt.Errorf("hook %q: retries must be >= 0", h.Name))
		}
	}
	for i := range c.ChangeHooks {
		h := &c.ChangeHooks[i]
		addName("change_hook", h.Name)
		if !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
			errs = append(errs, fmt.Errorf("change_hook %q: url must be http(s)://, got %q", h.Name, redactURL(h.URL)))
		}
		if (h.PasswordEnv != "" || h.PasswordFile != "") && h.User == "" {
			errs = append(errs, fmt.Errorf("change_hook %q: a password needs a user", h.Name))
		}
		setDur(&h.Timeout, 30*time.Second)
		setDur(&h.RetryDelay, 5*time.Second)
	}
	checkDeliver := func(what string, d []string) {
		for _, n := range d {
			if !names[n] {
				errs = append(errs, fmt.Errorf("%s: deliver names unknown hook %q", what, n))
			}
		}
	}
	dirs := map[string]string{}
	for i := range c.Repos {
		r := &c.Repos[i]
		what := fmt.Sprintf("repo %d (%s)", i+1, r.URL)
		if r.URL == "" {
			errs = append(errs, fmt.Errorf("%s: url is required", what))
			continue
		}
		what = fmt.Sprintf("repo %d (%s)", i+1, redactURL(r.URL))
		if strings.ContainsFunc(r.URL, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
			errs = append(errs, fmt.Errorf("%s: url contains whitespace (a comment? in INI files only ' ;' starts one, '#' only at the start of a line)", what))
			continue
		}
		if localPath(r.URL) && !filepath.IsAbs(r.URL) {
			// As git resolves it from the directory it runs in: here the
			// config file's, not whatever the daemon's working directory is.
			r.URL = filepath.Join(dir, r.URL)
		}
		if r.GitDir == "" {
			r.GitDir = MirrorDirName(r.URL)
		}
		gd, err := resolveGitDir(c.BaseDir, r.GitDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		r.GitDir = gd
		if r.Name == "" {
			r.Name = strings.TrimSuffix(filepath.Base(gd), ".git")
		}
		if prev, ok := dirs[gd]; ok {
			errs = append(errs, fmt.Errorf("%s: gitdir %s already used by %s", what, gd, prev))
		}
		dirs[gd] = r.URL
		checkDeliver(what, r.Deliver)
	}
	for i := range c.Orgs {
		o := &c.Orgs[i]
		what := fmt.Sprintf("org %q", o.Name)
		if !safeName(o.Name) {
			errs = append(errs, fmt.Errorf("%s: name must be a plain GitHub login", what))
		}
		switch o.Kind {
		case "":
			o.Kind = "org"
		case "org", "user":
		default:
			errs = append(errs, fmt.Errorf("%s: kind must be org or user", what))
		}
		switch o.Clone {
		case "":
			o.Clone = "https"
		case "https", "ssh":
		default:
			errs = append(errs, fmt.Errorf("%s: clone must be https or ssh", what))
		}
		if o.API == "" {
			o.API = DefaultGitHubAPI
		}
		o.API = strings.TrimRight(o.API, "/")
		if o.BaseDir == "" {
			o.BaseDir = filepath.Join(c.BaseDir, o.Name)
		} else if !filepath.IsAbs(o.BaseDir) {
			o.BaseDir = filepath.Join(c.BaseDir, o.BaseDir)
		}
		setDur(&o.WalkInterval, c.PollInterval.D())
		checkDeliver(what, o.Deliver)
	}
	return errors.Join(errs...)
}

func setDur(d *Duration, def time.Duration) {
	if *d <= 0 {
		*d = Duration(def)
	}
}

// MirrorDirName derives a mirror directory name from a URL: its last path
// element with ".git" appended when missing (as twobit did).
func MirrorDirName(url string) string {
	u := strings.TrimRight(url, "/")
	if i := strings.LastIndexAny(u, "/:"); i >= 0 {
		u = u[i+1:]
	}
	if !strings.HasSuffix(u, ".git") {
		u += ".git"
	}
	return u
}

// localPath reports whether a git URL is a local path: not scheme://...
// and not scp-like [user@]host:path (a ':' before any '/').
func localPath(u string) bool {
	if strings.Contains(u, "://") {
		return false
	}
	i := strings.IndexByte(u, ':')
	return i < 0 || strings.Contains(u[:i], "/")
}

// resolveGitDir makes gitdir absolute; a relative one must stay inside base.
func resolveGitDir(base, gitdir string) (string, error) {
	if filepath.IsAbs(gitdir) {
		return filepath.Clean(gitdir), nil
	}
	p := filepath.Join(base, gitdir)
	rel, err := filepath.Rel(base, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("gitdir %q leaves basedir", gitdir)
	}
	return p, nil
}

// safeName accepts GitHub logins and repository names, which cannot contain
// path separators; it keeps API-supplied names from escaping the basedir.
func safeName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}
