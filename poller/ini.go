package poller

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// iniFile is a parsed Python ConfigParser file: sections of key/value pairs,
// each section falling back to [DEFAULT].
type iniFile struct {
	defaults map[string]string
	order    []string
	sections map[string]map[string]string
	lines    map[string]int // section -> line of its header, for errors
}

// parseINI reads the syntax of Python 2's ConfigParser, which twobit used:
// "[section]", "key = value" or "key: value" (the key ends at the first '='
// or ':'), keys folded to lower case, lines starting with '#' or ';' (in the
// first column) or the word "rem" are comments, indented lines continue the
// value before. An inline comment starts at the first ';' of a value when
// whitespace precedes it; '#' inside a value is not a comment, and a value
// of "" is empty.
func parseINI(data []byte) (*iniFile, error) {
	f := &iniFile{defaults: map[string]string{}, sections: map[string]map[string]string{}, lines: map[string]int{}}
	var cur map[string]string
	var lastKey string
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), "\r")
		line := strings.TrimSpace(raw)
		if line == "" || raw[0] == '#' || raw[0] == ';' {
			continue
		}
		if w := strings.Fields(raw); strings.ToLower(w[0]) == "rem" && (raw[0] == 'r' || raw[0] == 'R') {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if cur == nil || lastKey == "" {
				return nil, fmt.Errorf("line %d: continuation line outside a value", n)
			}
			cur[lastKey] += "\n" + line
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 2 {
				return nil, fmt.Errorf("line %d: bad section header", n)
			}
			name := line[1:end]
			if name == "DEFAULT" {
				cur = f.defaults
			} else {
				if _, dup := f.sections[name]; dup {
					return nil, fmt.Errorf("line %d: section [%s] defined twice", n, name)
				}
				cur = map[string]string{}
				f.sections[name] = cur
				f.order = append(f.order, name)
				f.lines[name] = n
			}
			lastKey = ""
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: key outside any section", n)
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("line %d: expected key = value", n)
		}
		lastKey = strings.ToLower(strings.TrimSpace(line[:i]))
		cur[lastKey] = py2Value(line[i+1:])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ini: %w", err)
	}
	return f, nil
}

// py2Value applies Python 2 ConfigParser's rules to the text after '=' or
// ':': cut at the first ';' if whitespace precedes it (for a ';' in the
// first position, Python looked at the value's last character), trim, and
// read "" as empty.
func py2Value(v string) string {
	v = strings.TrimLeft(v, " \t")
	if pos := strings.IndexByte(v, ';'); pos >= 0 {
		prev := len(v) - 1
		if pos > 0 {
			prev = pos - 1
		}
		if v[prev] == ' ' || v[prev] == '\t' {
			v = v[:pos]
		}
	}
	v = strings.TrimSpace(v)
	if v == `""` {
		v = ""
	}
	return v
}

var interpRE = regexp.MustCompile(`%\(([^)]+)\)s`)

// get looks a key up in a section, then DEFAULT, and expands ConfigParser's
// %(name)s interpolation (with %% for a literal percent sign where it does).
func (f *iniFile) get(section, key string) (string, bool) {
	return f.lookup(section, key, 0)
}

func (f *iniFile) lookup(section, key string, depth int) (string, bool) {
	v, ok := f.sections[section][key]
	if !ok {
		v, ok = f.defaults[key]
	}
	// Python 2 interpolated (and turned %% into %) only values with "%(".
	if !ok || depth > 10 || !strings.Contains(v, "%(") {
		return v, ok
	}
	v = interpRE.ReplaceAllStringFunc(v, func(m string) string {
		name := strings.ToLower(interpRE.FindStringSubmatch(m)[1])
		s, _ := f.lookup(section, name, depth+1)
		return s
	})
	return strings.ReplaceAll(v, "%%", "%"), true
}

// twobitHookKeys must all be present for twobit to run a section's hook.
var twobitHookKeys = []string{"hook-script", "hook-master", "hook-port", "hook-user", "hook-passwd", "hook-logfile", "hook-projects"}

// ParseINI converts a twobit-git-poller INI config (see docs/poller.md) into
// a Config, so users can switch without rewriting it. name is used in errors
// and to resolve relative paths.
//
// The hook keeps twobit's git_buildbot.py argv (including the password as
// --auth, which git_buildbot.py only takes that way) and adds
// --repository. GitHub organisations are walked over the REST API and
// mirrored from clone_url, since GitHub no longer serves git://.
func ParseINI(data []byte, name string) (*Config, error) {
	f, err := parseINI(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	confDir := filepath.Dir(name)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(confDir, p)
	}
	c := &Config{}
	c.BaseDir = abs(f.defaults["basedir"])
	hookByArgv := map[string]string{}
	var errs []error
	for _, sec := range f.order {
		where := fmt.Sprintf("%s:%d [%s]", name, f.lines[sec], sec)
		typ, _ := f.get(sec, "type")
		rawBase, _ := f.get(sec, "basedir")
		basedir := abs(rawBase)
		if c.BaseDir == "" {
			c.BaseDir = basedir
		}
		// twobit put a section's mirrors in basedir/subdir.
		dest := basedir
		if sub, ok := f.get(sec, "subdir"); ok && sub != "" {
			d, err := inside(basedir, filepath.Join(basedir, sub))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: subdir %q: %w", where, sub, err))
				continue
			}
			dest = d
		}
		var interval Duration
		if s, ok := f.get(sec, "poll-interval"); ok && s != "" {
			sec, err := evalSeconds(s)
			if err != nil || sec <= 0 {
				errs = append(errs, fmt.Errorf("%s: poll-interval %q: want a positive number of seconds (%v)", where, s, err))
			}
			interval = Duration(time.Duration(sec * float64(time.Second)))
		}
		projects, deliver, mirror, err := f.iniHook(sec, c, hookByArgv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		switch typ {
		case "git":
			url, _ := f.get(sec, "url")
			gitdir, _ := f.get(sec, "gitdir")
			if gitdir == "" {
				gitdir = MirrorDirName(url)
			}
			if !filepath.IsAbs(gitdir) {
				gitdir = filepath.Join(dest, gitdir)
			}
			// As in TOML: a mirror stays inside its basedir.
			gd, err := inside(basedir, gitdir)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: gitdir %q: %w", where, gitdir, err))
				continue
			}
			c.Repos = append(c.Repos, RepoConfig{Name: sec, URL: url, GitDir: gd, Projects: projects,
				Deliver: deliver, Mirror: mirror, PollInterval: interval})
		case "org":
			org, _ := f.get(sec, "name")
			c.Orgs = append(c.Orgs, OrgConfig{Name: org, BaseDir: dest, Projects: projects,
				Deliver: deliver, Mirror: mirror, PollInterval: interval, WalkInterval: interval})
		default:
			errs = append(errs, fmt.Errorf("%s: type must be git or org, got %q", where, typ))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.Validate(confDir); err != nil {
		return nil, fmt.Errorf("check %s: %w", name, err)
	}
	return c, nil
}

// inside returns p cleaned if it is base or below it, an error otherwise.
func inside(base, p string) (string, error) {
	p = filepath.Clean(p)
	rel, err := filepath.Rel(filepath.Clean(base), p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("leaves basedir %s", base)
	}
	return p, nil
}

// iniHook turns a section's hook-* keys into a hook (shared by all sections
// with the same settings) and returns the section's projects. A section with
// an incomplete hook or no projects is mirror-only, as in twobit.
func (f *iniFile) iniHook(sec string, c *Config, byArgv map[string]string) (projects, deliver []string, mirror bool, err error) {
	v := map[string]string{}
	for _, k := range twobitHookKeys {
		s, ok := f.get(sec, k)
		if !ok {
			return nil, nil, true, nil
		}
		v[k] = s
	}
	projects, err = parsePyList(v["hook-projects"])
	if err != nil {
		return nil, nil, false, fmt.Errorf("hook-projects: %w", err)
	}
	if len(projects) == 0 {
		return nil, nil, true, nil
	}
	argv := []string{v["hook-script"],
		"--master=" + v["hook-master"] + ":" + v["hook-port"],
		"--username=" + v["hook-user"],
		"--auth=" + v["hook-passwd"],
		"--logfile=" + v["hook-logfile"],
		"--verbose", "--verbose", "--verbose",
		"--project={project}",
		"--repository={repository}",
	}
	key := strings.Join(argv, "\x00")
	hname, ok := byArgv[key]
	if !ok {
		hname = fmt.Sprintf("ini-hook-%d", len(byArgv)+1)
		byArgv[key] = hname
		c.Hooks = append(c.Hooks, HookConfig{Name: hname, Command: argv})
	}
	return projects, []string{hname}, false, nil
}

// parsePyList parses the Python list literal twobit reads with
// ast.literal_eval: ['a', "b", ] of plain string literals.
func parsePyList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("want a list like ['a', 'b'], got %q", s)
	}
	s = s[1 : len(s)-1]
	var out []string
	for {
		s = skipPyComments(s)
		if s == "" {
			return out, nil
		}
		q := s[0]
		if q != '\'' && q != '"' {
			return nil, fmt.Errorf("want a quoted string at %q", s)
		}
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != q; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, fmt.Errorf("unterminated string in %q", s)
		}
		out = append(out, b.String())
		s = skipPyComments(s[i+1:])
		if s == "" {
			return out, nil
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("want , between list items at %q", s)
		}
		s = s[1:]
	}
}

// skipPyComments trims whitespace and Python '#' comments (to the end of
// their line) from the start of s.
func skipPyComments(s string) string {
	for {
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "#") {
			return s
		}
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		} else {
			return ""
		}
	}
}
