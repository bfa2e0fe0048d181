// Package buildbot generates a buildbot master.cfg that runs xtbuild's Mage
// targets as one ShellCommand each, and whose change hook accepts the
// changes the poller (package poller) posts. It has two shapes: a single
// builder running every step in order on one worker, and a fan-out
// (Config.Fanout) where a parent builder triggers one builder per bitbake
// step, level by level along the step graph, on any worker, and a final
// builder assembles the result (docs/scale-out.md).
package buildbot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// Config is the plain input of the generator.
type Config struct {
	// Title names the master in its API.
	Title string
	// Builder is the builder's name (also used for the schedulers).
	Builder string
	// ConfigRepo and ConfigBranch are checked out by the first step
	// (clobbered each build: OE builds are not incremental here).
	ConfigRepo   string
	ConfigBranch string
	// Compile, if set, runs right after the checkout, e.g.
	// ["go", "run", "mage.go", "-compile", "./xtbuild"], so later steps can
	// use the compiled binary, which keeps Mage's exit codes (go run turns
	// every failure into 1).
	Compile []string
	// Command is the prefix every target is appended to: ["./xtbuild"] or
	// ["go", "run", "mage.go"].
	Command []string
	// Steps are run in order, one ShellCommand each (Command + Args). In a
	// fan-out their Kind says which builder runs them.
	Steps []Step
	// Sign and Upload are the targets run after the steps; an empty string
	// leaves the step out.
	Sign, Upload string
	// Fanout generates the parent/step/final builders instead of one
	// builder (docs/scale-out.md).
	Fanout bool
	// Env is set on every command: the XTBUILD_* options.
	Env map[string]string
	// BuildNumberEnv, if set, names a variable that gets the build number.
	BuildNumberEnv string
	// StepTimeout is how long a step may print nothing before buildbot kills
	// it (bitbake can be silent for a long time); default 2 h.
	StepTimeout time.Duration
	// Workers run the builds.
	Workers []Worker
	// Listen is the address the master binds; default 127.0.0.1.
	Listen string
	// WorkerPort is the PB port workers connect to (default 9989); WebPort
	// serves the REST API and /change_hook/base (default 8010).
	WorkerPort, WebPort int
	// URL is the master's public URL; default http://<Listen>:<WebPort>/.
	URL string
	// Projects and Branches filter the changes that start builds (empty: all).
	Projects, Branches []string
	// TreeStableTimer waits for pushes to settle before building; 0 builds
	// each change at once.
	TreeStableTimer time.Duration
	// ChangeHookAuthFile, if set, protects /change_hook with HTTP basic auth
	// from a "user:password" file (absolute or relative to the master dir).
	ChangeHookAuthFile string
	// ForceAuthFile, if set, names a "user:password" file (absolute or
	// relative to the master dir) of the users who may log in to the web
	// service and force, stop or rebuild builds. Without it nobody can:
	// every control endpoint of the REST API answers 403.
	ForceAuthFile string
	// PBChangeUser and PBChangePassword, if set, add a PBChangeSource on the
	// worker port for the unmodified contrib git_buildbot.py.
	PBChangeUser, PBChangePassword string
}

// Step kinds: where a fan-out runs a step. The single builder runs them
// all in order.
const (
	// Setup steps (setupoe) run in the parent and again in every step and
	// final builder before anything else, from the parent's lock.
	Setup = "setup"
	// Parallel steps (bitbake) get a builder of their own each.
	Parallel = "parallel"
	// Final steps (license, ship, ...) run in the final builder after
	// stage:collect.
	Final = "final"
)

// Step is one ShellCommand.
type Step struct {
	// Name is the buildbot step (and, for Parallel steps, builder suffix).
	Name string
	// Args follow Command: ["setupoe"], ["step", "dom0"].
	Args []string
	// Kind is Setup, Parallel or Final.
	Kind string
	// Depends lists the Parallel steps a Parallel step needs.
	Depends []string
}

// Worker is one buildbot worker's credentials.
type Worker struct {
	Name, Password string
	// MaxBuilds caps parallel builds on it (default 1: one bitbake at a
	// time). In a fan-out it is the count of the worker's "bitbake" lock,
	// which step and final builds hold; parent builds, which only wait for
	// others, do not count.
	MaxBuilds int
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
)

func (c *Config) validate() error {
	var errs []error
	if !nameRE.MatchString(c.Builder) {
		errs = append(errs, fmt.Errorf("builder name %q: use letters, digits, . _ -", c.Builder))
	}
	if c.ConfigRepo == "" {
		errs = append(errs, errors.New("config repo URL is required"))
	}
	if len(c.Command) == 0 {
		errs = append(errs, errors.New("command prefix is required"))
	}
	if len(c.Steps) == 0 {
		errs = append(errs, errors.New("at least one step is required"))
	}
	seen := map[string]bool{"checkout": true, "compile": true, "lock": true, "report": true,
		"stage:getfor": true, "stage:put": true, "stage:collect": true, "stage:clean": true, "sstate:publish": true}
	if c.Fanout {
		seen["final"] = true // the final builder is <builder>-final
	}
	all := slices.Clone(c.Steps)
	for _, t := range []string{c.Sign, c.Upload} {
		if t != "" {
			all = append(all, Step{Name: t, Kind: Final})
		}
	}
	kind := map[string]string{}
	for _, s := range all {
		if !nameRE.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("step %q: use letters, digits, . _ -", s.Name))
		}
		for _, a := range s.Args {
			if a == "" || strings.ContainsAny(a, " \t\n") || strings.HasPrefix(a, "-") {
				errs = append(errs, fmt.Errorf("step %q: argument %q is not a Mage target or step name", s.Name, a))
			}
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("step %q: listed twice", s.Name))
		}
		seen[s.Name] = true
		kind[s.Name] = s.Kind
		if c.Fanout && s.Kind != Setup && s.Kind != Parallel && s.Kind != Final {
			errs = append(errs, fmt.Errorf("step %q: kind %q is not setup, parallel or final", s.Name, s.Kind))
		}
	}
	if c.Fanout {
		n := 0
		for _, s := range c.Steps {
			if s.Kind == Parallel {
				n++
			}
			for _, d := range s.Depends {
				if kind[d] != Parallel || s.Kind != Parallel {
					errs = append(errs, fmt.Errorf("step %q: depends on %q: only a parallel step may depend on another parallel step", s.Name, d))
				}
			}
		}
		if n == 0 {
			errs = append(errs, errors.New("a fan-out needs at least one parallel step"))
		}
		if _, err := Levels(c.Steps); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.Workers) == 0 {
		errs = append(errs, errors.New("at least one worker is required"))
	}
	for _, w := range c.Workers {
		if !nameRE.MatchString(w.Name) || w.Password == "" {
			errs = append(errs, fmt.Errorf("worker %q: needs a plain name and a password", w.Name))
		}
	}
	for k := range c.Env {
		if !envRE.MatchString(k) {
			errs = append(errs, fmt.Errorf("env %q: not a variable name", k))
		}
	}
	if c.BuildNumberEnv != "" && !envRE.MatchString(c.BuildNumberEnv) {
		errs = append(errs, fmt.Errorf("build number env %q: not a variable name", c.BuildNumberEnv))
	}
	if c.Listen != "" && net.ParseIP(c.Listen) == nil && !hostRE.MatchString(c.Listen) {
		errs = append(errs, fmt.Errorf("listen %q: not an IP address or host name", c.Listen))
	}
	if (c.PBChangeUser == "") != (c.PBChangePassword == "") {
		errs = append(errs, errors.New("PB change source needs both user and password"))
	}
	return errors.Join(errs...)
}

// Generate renders master.cfg. The output is deterministic (sorted env).
func Generate(c Config) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("check buildbot config: %w", err)
	}
	if c.Title == "" {
		c.Title = "xtbuild"
	}
	if c.ConfigBranch == "" {
		c.ConfigBranch = "master"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1"
	}
	if c.WorkerPort == 0 {
		c.WorkerPort = 9989
	}
	if c.WebPort == 0 {
		c.WebPort = 8010
	}
	if c.URL == "" {
		c.URL = fmt.Sprintf("http://%s/", net.JoinHostPort(c.Listen, fmt.Sprint(c.WebPort)))
	}
	for i := range c.Steps {
		if len(c.Steps[i].Args) == 0 {
			c.Steps[i].Args = []string{c.Steps[i].Name}
		}
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 2 * time.Hour
	}
	for i := range c.Workers {
		if c.Workers[i].MaxBuilds == 0 {
			c.Workers[i].MaxBuilds = 1
		}
	}
	levels, _ := Levels(c.Steps)
	var b bytes.Buffer
	if err := masterTmpl.Execute(&b, view{Config: c, Levels: levels}); err != nil {
		return nil, fmt.Errorf("render master.cfg: %w", err)
	}
	return b.Bytes(), nil
}

// view is what the template sees.
type view struct {
	Config
	// Levels are the fan-out's trigger rounds: the Parallel steps whose
	// dependencies all lie in earlier rounds.
	Levels [][]Step
}

// Levels groups the Parallel steps into trigger rounds: round 0 holds the
// steps without dependencies, round n those whose deepest dependency is in
// round n-1. Steps keep their order within a round.
func Levels(steps []Step) ([][]Step, error) {
	byName := map[string]Step{}
	for _, s := range steps {
		if s.Kind == Parallel {
			byName[s.Name] = s
		}
	}
	depth := map[string]int{}
	var visit func(n string, path []string) (int, error)
	visit = func(n string, path []string) (int, error) {
		if d, ok := depth[n]; ok {
			return d, nil
		}
		if slices.Contains(path, n) {
			return 0, fmt.Errorf("dependency cycle: %s -> %s", strings.Join(path, " -> "), n)
		}
		d := 0
		for _, dep := range byName[n].Depends {
			if _, ok := byName[dep]; !ok {
				continue // reported by validate
			}
			dd, err := visit(dep, append(path, n))
			if err != nil {
				return 0, err
			}
			d = max(d, dd+1)
		}
		depth[n] = d
		return d, nil
	}
	var levels [][]Step
	for _, s := range steps {
		if s.Kind != Parallel {
			continue
		}
		d, err := visit(s.Name, nil)
		if err != nil {
			return nil, err
		}
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], s)
	}
	return levels, nil
}

// argv appends args (strings or string lists) to prefix.
func argv(prefix []string, args ...any) []string {
	out := slices.Clone(prefix)
	for _, a := range args {
		switch x := a.(type) {
		case string:
			out = append(out, x)
		case []string:
			out = append(out, x...)
		}
	}
	return out
}

// endpoint is a Twisted server endpoint string; colons in the interface
// (an IPv6 address) must be escaped or Twisted splits on them.
func endpoint(port int, iface string) string {
	return fmt.Sprintf("tcp:%d:interface=%s", port, strings.ReplaceAll(iface, ":", `\:`))
}

// Write renders master.cfg to path atomically, mode 0600 (it holds the
// worker passwords), and the minimal web plugin beside it (WriteWebPlugin).
func Write(path string, c Config) error {
	data, err := Generate(c)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write master config: %w", err)
	}
	return WriteWebPlugin(filepath.Dir(path))
}

// py renders a Go value as a Python literal. JSON strings, numbers and
// lists are valid Python; booleans and null are spelled differently.
func py(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	case nil:
		return "None", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

var masterTmpl = template.Must(template.New("master.cfg").Funcs(template.FuncMap{
	"py":       py,
	"argv":     argv,
	"endpoint": endpoint,
	"kind": func(steps []Step, kind string) []Step {
		var out []Step
		for _, s := range steps {
			if s.Kind == kind {
				out = append(out, s)
			}
		}
		return out
	},
	"seconds": func(d time.Duration) int64 { return int64(d / time.Second) },
	"sortedKeys": func(m map[string]string) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	},
}).Parse(masterCfg))
