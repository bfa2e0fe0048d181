// Package buildbot generates a buildbot master.cfg whose builder runs
// xtbuild's Mage targets as one ShellCommand each, and whose change hook
// accepts the changes the poller (package poller) posts.
package buildbot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	// Steps are the Mage targets, one ShellCommand each, in order.
	Steps []string
	// Sign and Upload are the targets run after the steps; an empty string
	// leaves the step out.
	Sign, Upload string
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
	// PBChangeUser and PBChangePassword, if set, add a PBChangeSource on the
	// worker port for the unmodified contrib git_buildbot.py.
	PBChangeUser, PBChangePassword string
}

// Worker is one buildbot worker's credentials.
type Worker struct {
	Name, Password string
	// MaxBuilds caps parallel builds on it (default 1: one bitbake at a time).
	MaxBuilds int
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
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
	seen := map[string]bool{"checkout": true, "compile": true}
	for _, s := range append(slices.Clone(c.Steps), c.Sign, c.Upload) {
		if s == "" {
			continue
		}
		if strings.ContainsAny(s, " \t\n") || strings.HasPrefix(s, "-") {
			errs = append(errs, fmt.Errorf("step %q: not a Mage target name", s))
		}
		if seen[s] {
			errs = append(errs, fmt.Errorf("step %q: listed twice", s))
		}
		seen[s] = true
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
		c.URL = fmt.Sprintf("http://%s:%d/", c.Listen, c.WebPort)
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 2 * time.Hour
	}
	for i := range c.Workers {
		if c.Workers[i].MaxBuilds == 0 {
			c.Workers[i].MaxBuilds = 1
		}
	}
	var b bytes.Buffer
	if err := masterTmpl.Execute(&b, c); err != nil {
		return nil, fmt.Errorf("render master.cfg: %w", err)
	}
	return b.Bytes(), nil
}

// Write renders master.cfg to path atomically, mode 0600 (it holds the
// worker passwords).
func Write(path string, c Config) error {
	data, err := Generate(c)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write master config: %w", err)
	}
	return nil
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
	"py":      py,
	"argv":    func(prefix []string, target string) []string { return append(slices.Clone(prefix), target) },
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
