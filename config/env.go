package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// EnvOverride is one environment variable that overrides a config key.
type EnvOverride struct {
	Name string // XTBUILD_...
	Key  string // the TOML key it overrides
	set  func(c *Config, v string) error
}

// EnvOverrides lists every override, in the order applied (README table).
var EnvOverrides = []EnvOverride{
	{"XTBUILD_ID", "build.id", func(c *Config, v string) error { c.Build.ID = v; return nil }},
	{"XTBUILD_BRANCH", "build.branch", func(c *Config, v string) error { c.Build.Branch = v; return nil }},
	{"XTBUILD_NAME", "build.name", func(c *Config, v string) error { c.Build.Name = v; return nil }},
	{"XTBUILD_STEPS", "build.steps", func(c *Config, v string) error { c.Build.Steps = splitList(v); return nil }},
	{"XTBUILD_THREADS", "build.threads", func(c *Config, v string) error { return setInt(&c.Build.Threads, v) }},
	{"XTBUILD_BUILD_DIR", "paths.build_dir", func(c *Config, v string) error { c.Paths.BuildDir = v; return nil }},
	{"XTBUILD_OUTPUT_DIR", "paths.output_dir", func(c *Config, v string) error { c.Paths.OutputDir = v; return nil }},
	{"XTBUILD_DOWNLOADS", "paths.downloads", func(c *Config, v string) error { c.Paths.Downloads = v; return nil }},
	{"XTBUILD_SSTATE_DIR", "paths.sstate", func(c *Config, v string) error { c.Paths.Sstate = v; return nil }},
	{"XTBUILD_UPLOAD_DESTINATION", "upload.destination", func(c *Config, v string) error { c.Upload.Destination = v; return nil }},
	{"XTBUILD_FANOUT_STAGE", "fanout.stage", func(c *Config, v string) error { c.Fanout.Stage = v; return nil }},
	{"XTBUILD_OFFLINE", "mirrors.offline", func(c *Config, v string) error { return setBool(&c.Mirrors.Offline, v) }},
}

// applyEnv applies the overrides; set maps each overridden key to the
// variable that set it, so validation errors name the variable.
func applyEnv(c *Config, getenv Getenv) (set map[string]string, errs Errors) {
	set = map[string]string{}
	for _, o := range EnvOverrides {
		v := getenv(o.Name)
		if v == "" {
			continue
		}
		if err := o.set(c, v); err != nil {
			errs = append(errs, &FieldError{File: "environment", Key: o.Name, Msg: err.Error()})
		}
		set[o.Key] = o.Name
	}
	return set, errs
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func setInt(dst *int, v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("not an integer: %q", v)
	}
	*dst = n
	return nil
}

func setBool(dst *bool, v string) error {
	b, err := ParseBool(v)
	if err != nil {
		return err
	}
	*dst = b
	return nil
}

// ParseBool accepts the spellings people use in environment variables.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("not a boolean: %q (use 1 or 0)", v)
}

// Options are the switches Mage targets cannot take as flags; they are read
// from XTBUILD_* environment variables here and nowhere else.
type Options struct {
	Locked   bool   // XTBUILD_LOCKED: layers must match xtbuild.lock exactly
	Force    bool   // XTBUILD_FORCE: discard local layer changes, rebuild done steps, overwrite outputs
	Release  bool   // XTBUILD_RELEASE: sign with the production key
	Dev      bool   // XTBUILD_DEV: verify also accepts the dev CA
	CopyOnly bool   // XTBUILD_COPY_ONLY: re-run only the artifact copy half of steps
	Yes      bool   // XTBUILD_YES: do not ask for confirmation
	JSON     bool   // XTBUILD_JSON: machine-readable output where supported
	Jobs     int    // XTBUILD_JOBS: parallel layer clones/fetches (0: default)
	Against  string // XTBUILD_AGAINST: report regressions against this build dir
	Listen   string // XTBUILD_LISTEN: address mirror:serve binds
	Dir      string // XTBUILD_DIR: working directory of rebuild
	CA       string // XTBUILD_CA: CA certificate that signed a provenance (rebuild)
	Unsigned bool   // XTBUILD_UNSIGNED: rebuild accepts an unsigned provenance
	// FullHistory is XTBUILD_FULL_HISTORY: setupoe clones whole histories
	// instead of shallow fetches of the needed commits.
	FullHistory bool
	// ExecGit is XTBUILD_EXEC_GIT: setupoe runs C git for every fetch and
	// checkout, never its in-process protocol client or checkout.
	ExecGit bool
	Debug   bool   // XTBUILD_DEBUG (or mage -v): debug lines from every package
	Plain   bool   // XTBUILD_PLAIN: plain log lines even on a terminal
	Commit  string // XTBUILD_COMMIT: xtbuild's own commit, recorded in provenance
	// ConfigFile is XTBUILD_CONFIG: the config file to use (and the file
	// init and migrate write).
	ConfigFile string
	// Worker is XTBUILD_WORKER: the buildbot worker running this target
	// (the stage tree and the provenance record it per step); empty means
	// the host name (see WorkerName).
	Worker string
	// SourceDateEpoch is SOURCE_DATE_EPOCH when set: it overrides the build
	// date that otherwise comes from the layer lock.
	SourceDateEpoch time.Time
}

// OptionVars documents each option variable (README and target help).
var OptionVars = []struct{ Name, Doc string }{
	{"XTBUILD_LOCKED", "1: layers must match xtbuild.lock; a mismatch is an error instead of a re-lock"},
	{"XTBUILD_FORCE", "1: discard local layer changes, rebuild completed steps, overwrite outputs"},
	{"XTBUILD_RELEASE", "1: sign re-signs with the production (release) key"},
	{"XTBUILD_DEV", "1: verify also accepts the development CA"},
	{"XTBUILD_COPY_ONLY", "1: step targets only copy deploy outputs (OpenXT's *cp steps)"},
	{"XTBUILD_YES", "1: answer yes to confirmations"},
	{"XTBUILD_JSON", "1: JSON output (plan, report, verify)"},
	{"XTBUILD_JOBS", "N: parallel layer clones and fetches (default 8)"},
	{"XTBUILD_AGAINST", "DIR: build dir to compare the report against"},
	{"XTBUILD_LISTEN", "ADDR: address mirror:serve listens on (default 127.0.0.1:8000)"},
	{"XTBUILD_DIR", "DIR: where rebuild recreates the build (default rebuild-<NAME>)"},
	{"XTBUILD_CA", "FILE: CA certificate rebuild checks the provenance signature with (default signing.dev_ca_cert)"},
	{"XTBUILD_UNSIGNED", "1: rebuild accepts a provenance without a valid signature"},
	{"XTBUILD_FULL_HISTORY", "1: setupoe clones each layer's whole history instead of a shallow fetch of the commit it needs"},
	{"XTBUILD_EXEC_GIT", "1: setupoe runs git for every fetch and checkout (no in-process fetch or checkout)"},
	{"XTBUILD_DEBUG", "1: debug lines from every package (also `mage -v`)"},
	{"XTBUILD_PLAIN", "1: plain log lines even on a terminal"},
	{"XTBUILD_COMMIT", "SHA: xtbuild's own commit, recorded in provenance (default: from the Go build info)"},
	{"XTBUILD_CONFIG", "FILE: config file to use; init and migrate write it"},
	{"XTBUILD_WORKER", "NAME: the worker building this step, recorded in the stage tree and the provenance (default: the host name)"},
	{"SOURCE_DATE_EPOCH", "SECONDS: build date for media and provenance instead of the newest locked layer commit"},
}

// WorkerName is the worker recorded for what this process builds: Worker,
// else the host name, else "unknown".
func (o Options) WorkerName() string {
	if o.Worker != "" {
		return o.Worker
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
}

// MaxJobs bounds XTBUILD_JOBS: each job is a git process and its pack files.
const MaxJobs = 256

// LoadOptions reads the option variables. A malformed value is a usage error.
func LoadOptions(getenv Getenv) (Options, error) {
	var o Options
	var errs Errors
	flag := func(name string, dst *bool) {
		if err := setBool(dst, getenv(name)); err != nil {
			errs = append(errs, &FieldError{File: "environment", Key: name, Msg: err.Error()})
		}
	}
	flag("XTBUILD_LOCKED", &o.Locked)
	flag("XTBUILD_FORCE", &o.Force)
	flag("XTBUILD_RELEASE", &o.Release)
	flag("XTBUILD_DEV", &o.Dev)
	flag("XTBUILD_COPY_ONLY", &o.CopyOnly)
	flag("XTBUILD_YES", &o.Yes)
	flag("XTBUILD_JSON", &o.JSON)
	if v := getenv("XTBUILD_JOBS"); v != "" {
		if err := setInt(&o.Jobs, v); err != nil || o.Jobs < 1 || o.Jobs > MaxJobs {
			errs = append(errs, &FieldError{File: "environment", Key: "XTBUILD_JOBS", Msg: fmt.Sprintf("want 1..%d, got %q", MaxJobs, v)})
		}
	}
	o.Against = getenv("XTBUILD_AGAINST")
	o.Listen = getenv("XTBUILD_LISTEN")
	o.Dir = getenv("XTBUILD_DIR")
	o.CA = getenv("XTBUILD_CA")
	flag("XTBUILD_UNSIGNED", &o.Unsigned)
	flag("XTBUILD_FULL_HISTORY", &o.FullHistory)
	flag("XTBUILD_EXEC_GIT", &o.ExecGit)
	flag("XTBUILD_DEBUG", &o.Debug)
	o.Debug = o.Debug || getenv("MAGEFILE_VERBOSE") == "1"
	flag("XTBUILD_PLAIN", &o.Plain)
	o.Commit = getenv("XTBUILD_COMMIT")
	o.ConfigFile = getenv("XTBUILD_CONFIG")
	o.Worker = strings.TrimSpace(getenv("XTBUILD_WORKER"))
	if strings.ContainsAny(o.Worker, "/\\\n\r\t") {
		errs = append(errs, &FieldError{File: "environment", Key: "XTBUILD_WORKER", Msg: fmt.Sprintf("%q: a worker name without slashes, tabs or line breaks", o.Worker)})
	}
	if v := getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || strings.TrimSpace(v) != v {
			errs = append(errs, &FieldError{File: "environment", Key: "SOURCE_DATE_EPOCH", Msg: fmt.Sprintf("want a non-negative number of seconds, got %q", v)})
		} else {
			o.SourceDateEpoch = time.Unix(n, 0).UTC()
		}
	}
	if len(errs) > 0 {
		return o, errs
	}
	return o, nil
}
