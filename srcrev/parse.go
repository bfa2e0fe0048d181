package srcrev

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// store is a small model of BitBake's datastore: enough to find a recipe's
// SRCREV and SRC_URI after its includes and appends, not a BitBake
// evaluator. It knows =, ?=, ??=, :=, +=, =+, .=, =., the append, prepend
// and remove operations in both override syntaxes, unset, and ${VAR}
// expansion. Inline python (${@...}), conditional overrides other than the
// plain operations, classes and anonymous python are not evaluated; a value
// that needs them stays unexpanded and the source is reported, not guessed.
type store struct {
	vars map[string]*variable
}

type variable struct {
	value    string
	set      bool
	weak     string // ??=
	appends  []string
	prepends []string
	removes  []string
}

func newStore() *store { return &store{vars: map[string]*variable{}} }

func (s *store) clone() *store {
	c := newStore()
	for k, v := range s.vars {
		nv := *v
		nv.appends = append([]string(nil), v.appends...)
		nv.prepends = append([]string(nil), v.prepends...)
		nv.removes = append([]string(nil), v.removes...)
		c.vars[k] = &nv
	}
	return c
}

func (s *store) v(name string) *variable {
	x := s.vars[name]
	if x == nil {
		x = &variable{}
		s.vars[name] = x
	}
	return x
}

func (s *store) setVar(name, value string) {
	x := s.v(name)
	x.value, x.set = value, true
}

// raw is the variable's value with its operations applied, unexpanded.
func (s *store) raw(name string) (string, bool) {
	x := s.vars[name]
	if x == nil {
		return "", false
	}
	val, ok := x.value, x.set
	if !ok && x.weak != "" {
		val, ok = x.weak, true
	}
	for _, p := range x.prepends {
		val, ok = p+val, true
	}
	for _, a := range x.appends {
		val, ok = val+a, true
	}
	if len(x.removes) > 0 {
		drop := map[string]bool{}
		for _, r := range x.removes {
			for _, f := range strings.Fields(s.expand(r, 0)) {
				drop[f] = true
			}
		}
		var keep []string
		for _, f := range strings.Fields(val) {
			if !drop[f] {
				keep = append(keep, f)
			}
		}
		val = strings.Join(keep, " ")
	}
	return val, ok
}

var refRE = regexp.MustCompile(`\$\{([A-Za-z0-9_\-+.:]+)\}`)

// conditionalRE is OE's oe.utils.conditional(VAR, value, then, else, d),
// the one piece of inline python that decides SRCREVs in oe-core
// (linux-yocto-dev: ${AUTOREV} only when it is the preferred kernel).
var conditionalRE = regexp.MustCompile(`\$\{@\s*oe\.utils\.conditional\(\s*["']([^"']+)["']\s*,\s*["']([^"']*)["']\s*,\s*["']([^"']*)["']\s*,\s*["']([^"']*)["']\s*,\s*d\s*\)\s*\}`)

// expand replaces ${VAR} references it can resolve; others stay as they are.
func (s *store) expand(v string, depth int) string {
	if depth > 20 {
		return v
	}
	v = conditionalRE.ReplaceAllStringFunc(v, func(m string) string {
		c := conditionalRE.FindStringSubmatch(m)
		got, _ := s.get(c[1])
		if got == c[2] {
			return c[3]
		}
		return c[4]
	})
	return refRE.ReplaceAllStringFunc(v, func(m string) string {
		name := m[2 : len(m)-1]
		val, ok := s.raw(name)
		if !ok {
			return m
		}
		return s.expand(val, depth+1)
	})
}

func (s *store) get(name string) (string, bool) {
	v, ok := s.raw(name)
	if !ok {
		return "", false
	}
	return s.expand(v, 0), true
}

var (
	assignRE = regexp.MustCompile(`^(?:export\s+)?([A-Za-z0-9_\-+.${}/~:]+?)(\[[^\]]*\])?\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*(.*)$`)
	funcRE   = regexp.MustCompile(`^(?:(?:python|fakeroot)\s+)*[A-Za-z0-9_\-+.${}:]*\s*\(\s*\)\s*\{\s*$`)
	opRE     = regexp.MustCompile(`^(.+?)[:_](append|prepend|remove)$`)
)

// parser reads BitBake files into a store, following include and require
// through the search path (the including file's directory, then BBPATH).
type parser struct {
	bbpath []string
	depth  int
	// missing collects required files that were not found; reading goes
	// on, as only the variables this package looks at matter.
	missing []string
}

func (p *parser) file(s *store, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return p.text(s, path, data)
}

// text reads the statements of data, a file at path (for includes).
func (p *parser) text(s *store, path string, data []byte) error {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 30 {
		return fmt.Errorf("%s: includes nest too deep", path)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		// Continuation lines join with the backslash removed.
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + lines[i]
		}
		t := strings.TrimSpace(line)
		switch {
		case t == "" || strings.HasPrefix(t, "#"):
			continue
		case funcRE.MatchString(t):
			// Shell or python function body up to a closing brace in column 0.
			for i+1 < len(lines) && !strings.HasPrefix(lines[i+1], "}") {
				i++
			}
			i++
			continue
		case strings.HasPrefix(line, "def "):
			for i+1 < len(lines) && (lines[i+1] == "" || strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
				i++
			}
			continue
		}
		fields := strings.Fields(t)
		switch fields[0] {
		case "include", "require":
			if len(fields) < 2 {
				continue
			}
			name := s.expand(strings.TrimSpace(t[len(fields[0]):]), 0)
			inc, ok := p.find(path, name)
			if !ok {
				if fields[0] == "require" {
					p.missing = append(p.missing, name)
				}
				continue
			}
			if err := p.file(s, inc); err != nil {
				return err
			}
			continue
		case "unset":
			if len(fields) >= 2 {
				delete(s.vars, fields[1])
			}
			continue
		case "inherit", "inherit_defer", "addtask", "deltask", "addhandler", "EXPORT_FUNCTIONS", "include_all", "addfragments":
			continue
		}
		m := assignRE.FindStringSubmatch(t)
		if m == nil || m[2] != "" {
			continue // flags and statements we do not model
		}
		val, ok := unquote(strings.TrimSpace(m[4]))
		if !ok {
			continue
		}
		s.assign(m[1], m[3], val)
	}
	return nil
}

func unquote(v string) (string, bool) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1], true
	}
	return "", false
}

func (s *store) assign(name, op, val string) {
	if m := opRE.FindStringSubmatch(name); m != nil && !strings.ContainsAny(m[1], ":") {
		x := s.v(m[1])
		switch m[2] {
		case "append":
			x.appends = append(x.appends, val)
		case "prepend":
			x.prepends = append(x.prepends, val)
		case "remove":
			x.removes = append(x.removes, val)
		}
		return
	}
	if strings.Contains(name, ":") {
		return // a conditional override: not modelled
	}
	x := s.v(name)
	cur := x.value // += and friends work on the set value; :append waits for the end
	switch op {
	case "=":
		x.value, x.set = val, true
	case "?=":
		if !x.set {
			x.value, x.set = val, true
		}
	case "??=":
		x.weak = val
	case ":=":
		x.value, x.set = s.expand(val, 0), true
	case "+=":
		x.value, x.set = joinSpace(cur, val), true
	case "=+":
		x.value, x.set = joinSpace(val, cur), true
	case ".=":
		x.value, x.set = cur+val, true
	case "=.":
		x.value, x.set = val+cur, true
	}
}

func joinSpace(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + " " + b
}

// find resolves an include: absolute, next to the including file, or in
// BBPATH.
func (p *parser) find(from, name string) (string, bool) {
	if name == "" || strings.Contains(name, "${") {
		return "", false
	}
	if filepath.IsAbs(name) {
		_, err := os.Stat(name)
		return name, err == nil
	}
	for _, d := range append([]string{filepath.Dir(from)}, p.bbpath...) {
		c := filepath.Join(d, name)
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, true
		}
	}
	return "", false
}
