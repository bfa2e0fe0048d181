package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/bbsyntax"
)

// parseError is BitBake's bb.parse.ParseError: a message tied to a file
// and (when not 0) the line BitBake was on, the last physical line of a
// continued statement.
type parseError struct {
	msg  string
	file string
	line int
	// raise is the frame of BitBake 2.x's ConfHandler.py that raises it,
	// as its traceback shows: line number, function and source line.
	raiseLine int
	raiseFunc string
	raiseSrc  string
}

func (e *parseError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("ParseError at %s:%d: %s", e.file, e.line, e.msg)
	}
	return fmt.Sprintf("ParseError in %s: %s", e.file, e.msg)
}

// fatalError is bb.fatal during configuration parsing: one ERROR line.
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

// The raise sites of BitBake 2.8's lib/bb/parse/parse_py/ConfHandler.py
// that the stand-in reproduces in its tracebacks.
const (
	unparsedRaiseLine = 200
	unparsedRaiseSrc  = `raise ParseError("unparsed line: '%s'" % s, fn, lineno);`
	includeRaiseLine  = 95
	includeRaiseSrc   = `raise ParseError("Could not %s file %s" % (error_out, fn), parentfn, lineno)`
)

// variable is one datastore entry. Override operations (:append, :prepend,
// :remove, or _append... before BitBake 1.52) are kept apart and applied
// when the value is read, as BitBake does.
type variable struct {
	val      string
	set      bool
	weak     string
	hasWeak  bool
	appends  []string
	prepends []string
	removes  []string
	fromConf bool // assigned by a conf file, not inherited from the environment
}

// datastore is the small part of bb.data_smart the stand-in needs: plain
// variables, the assignment operators, override operations and ${VAR}
// expansion. Python expansions ${@...} stay as written; conditional
// overrides other than append/prepend/remove are not applied.
type datastore struct {
	vars     map[string]*variable
	colonOps bool // BitBake 1.52+: VAR:append; older: VAR_append
}

func newDatastore(colonOps bool) *datastore {
	return &datastore{vars: map[string]*variable{}, colonOps: colonOps}
}

func (d *datastore) v(name string) *variable {
	if d.vars[name] == nil {
		d.vars[name] = &variable{}
	}
	return d.vars[name]
}

func (d *datastore) setVar(name, val string) {
	v := d.v(name)
	v.val, v.set = val, true
}

func (d *datastore) delVar(name string) { delete(d.vars, name) }

// raw is the value before expansion: set value or weak default, with the
// override operations applied.
func (d *datastore) raw(name string) (string, bool) {
	v := d.vars[name]
	if v == nil {
		return "", false
	}
	val, ok := v.val, v.set
	if !ok && v.hasWeak {
		val, ok = v.weak, true
	}
	for _, p := range v.prepends {
		val, ok = p+val, true
	}
	for _, a := range v.appends {
		val, ok = val+a, true
	}
	if len(v.removes) > 0 {
		drop := map[string]bool{}
		for _, r := range v.removes {
			for _, w := range strings.Fields(d.expand(r, 0)) {
				drop[w] = true
			}
		}
		var keep []string
		for _, w := range strings.Fields(d.expand(val, 0)) {
			if !drop[w] {
				keep = append(keep, w)
			}
		}
		val = strings.Join(keep, " ")
	}
	return val, ok
}

// get is getVar(name) with expansion.
func (d *datastore) get(name string) string {
	val, _ := d.raw(name)
	return d.expand(val, 0)
}

var varRefRE = regexp.MustCompile(`\$\{[a-zA-Z0-9\-_+./~:]+\}`)

func (d *datastore) expand(s string, depth int) string {
	if depth > 20 || !strings.Contains(s, "${") {
		return s
	}
	return varRefRE.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		val, ok := d.raw(name)
		if !ok {
			return ref
		}
		return d.expand(val, depth+1)
	})
}

// statementRE splits an assignment BitBake's __config_regexp__ accepted
// (bbsyntax has checked the line already).
var statementRE = regexp.MustCompile(`^(export\s+)?([a-zA-Z0-9\-_+.${}/~:]+?)(\[([a-zA-Z0-9\-_+.@]+)\])?\s*(:=|\?\?=|\?=|\+=|=\+|=\.|\.=|=)\s*(['"])(.*)['"]$`)

var (
	includeRE = regexp.MustCompile(`^(include|require)\s+(.+)`)
	unsetRE   = regexp.MustCompile(`^unset\s+([a-zA-Z0-9\-_+.${}/~]+)$`)
)

// conf is the configuration parse of one bitbake run.
type conf struct {
	d       *datastore
	version version
	bbdir   string   // the bitbake checkout (for tracebacks)
	files   []string // every conf file parsed, in order
	warns   []string
}

// logicalLine is one statement as ConfHandler.handle assembles it.
type logicalLine struct {
	start, end int
	text       string
}

// readLogical reads a conf file the way ConfHandler.handle does: blank
// lines skipped, trailing backslashes join lines, comments dropped.
func readLogical(src string) []logicalLine {
	src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(src, "\n")
	if strings.HasSuffix(src, "\n") {
		lines = lines[:len(lines)-1]
	}
	var out []logicalLine
	for i := 0; i < len(lines); i++ {
		start := i + 1
		if strings.TrimSpace(lines[i]) == "" {
			continue
		}
		s := strings.TrimRight(lines[i], " \t\v\f")
		for s != "" && s[len(s)-1] == '\\' {
			next := ""
			if i+1 < len(lines) {
				i++
				next = strings.TrimRight(lines[i], " \t\v\f")
			}
			s = s[:len(s)-1] + next
		}
		if s == "" || s[0] == '#' {
			continue
		}
		out = append(out, logicalLine{start, i + 1, s})
	}
	return out
}

// parseFile is bb.parse.handle for a .conf file: the whole file is checked
// with bbsyntax first (BitBake parses a file completely before evaluating
// it), and the first problem is reported as BitBake reports it.
func (c *conf) parseFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c.files = append(c.files, path)
	src := string(data)
	stmts := readLogical(src)
	if errs := bbsyntax.Check(src, bbsyntax.Conf); len(errs) > 0 {
		first := errs[0]
		if strings.HasPrefix(first.Msg, "comment continued") {
			return &fatalError{fmt.Sprintf("There is a confusing multiline, partially commented expression starting on line %d of file %s:\n%s\nPlease clarify whether this is all a comment or should be parsed.", first.Line, path, physical(src, first.Line))}
		}
		for _, s := range stmts {
			if s.start == first.Line {
				return &parseError{msg: fmt.Sprintf("unparsed line: '%s'", s.text), file: path, line: s.end,
					raiseLine: unparsedRaiseLine, raiseFunc: "feeder", raiseSrc: unparsedRaiseSrc}
			}
		}
		return &parseError{msg: first.Msg, file: path, line: first.Line,
			raiseLine: unparsedRaiseLine, raiseFunc: "feeder", raiseSrc: unparsedRaiseSrc}
	}
	oldFile, _ := c.d.raw("FILE")
	c.d.setVar("FILE", path)
	defer c.d.setVar("FILE", oldFile)
	for _, s := range stmts {
		if err := c.eval(path, s); err != nil {
			return err
		}
	}
	return nil
}

// physical returns the physical lines of a continued statement from line on.
func physical(src string, line int) string {
	lines := strings.Split(src, "\n")
	var b strings.Builder
	for i := line - 1; i < len(lines); i++ {
		b.WriteString(lines[i] + "\n")
		if !strings.HasSuffix(strings.TrimRight(lines[i], " \t"), "\\") {
			break
		}
	}
	return b.String()
}

func (c *conf) eval(path string, s logicalLine) error {
	if m := statementRE.FindStringSubmatch(s.text); m != nil {
		name, flag, op, val := m[2], m[4], m[5], m[7]
		if flag != "" {
			return nil // flags do not change values the stand-in reads
		}
		return c.assign(path, s.end, name, op, val)
	}
	if m := includeRE.FindStringSubmatch(s.text); m != nil {
		for _, fn := range strings.Fields(c.d.expand(m[2], 0)) {
			if err := c.include(path, s.end, fn, m[1] == "require"); err != nil {
				return err
			}
		}
		return nil
	}
	if m := unsetRE.FindStringSubmatch(s.text); m != nil {
		c.d.delVar(m[1])
	}
	return nil // export NAME, unset VAR[flag], addpylib
}

// assign is ast.DataNode.eval followed by data_smart.setVar.
func (c *conf) assign(path string, line int, name, op, val string) error {
	if c.d.colonOps && !strings.HasPrefix(name, "__anon_") && op != "??=" &&
		(strings.Contains(name, "_append") || strings.Contains(name, "_prepend") || strings.Contains(name, "_remove")) {
		return &fatalError{fmt.Sprintf("Variable %s file: %s line: %d contains an operation using the old override syntax. Please convert this layer/metadata before attempting to use with a newer bitbake.", name, path, line)}
	}
	sep := "_"
	if c.d.colonOps {
		sep = ":"
	}
	for _, kw := range []string{"append", "prepend", "remove"} {
		if base, ok := strings.CutSuffix(name, sep+kw); ok && base != "" {
			v := c.d.v(base)
			v.fromConf = true
			switch kw {
			case "append":
				v.appends = append(v.appends, val)
			case "prepend":
				v.prepends = append(v.prepends, val)
			default:
				v.removes = append(v.removes, val)
			}
			return nil
		}
	}
	cur, ok := c.d.raw(name)
	v := c.d.v(name)
	v.fromConf = true
	switch op {
	case "??=":
		v.weak, v.hasWeak = val, true
		return nil
	case "?=":
		if ok {
			return nil
		}
	case ":=":
		val = c.d.expand(val, 0)
	case "+=":
		val = cur + " " + val
	case "=+":
		val = val + " " + cur
	case ".=":
		val = cur + val
	case "=.":
		val = val + cur
	}
	v.val, v.set = val, true
	return nil
}

// include is ConfHandler.include_single_file: relative names are looked up
// in the including file's directory, then along BBPATH.
func (c *conf) include(parent string, line int, fn string, required bool) error {
	if fn == parent {
		return nil
	}
	if !filepath.IsAbs(fn) {
		search := append([]string{filepath.Dir(parent)}, strings.Split(c.d.get("BBPATH"), ":")...)
		for _, dir := range search {
			if dir == "" {
				continue
			}
			if st, err := os.Stat(filepath.Join(dir, fn)); err == nil && !st.IsDir() {
				fn = filepath.Join(dir, fn)
				break
			}
		}
	}
	if _, err := os.Stat(fn); err != nil {
		if !required {
			return nil
		}
		return &parseError{msg: fmt.Sprintf("Could not require file %s", fn), file: parent, line: line,
			raiseLine: includeRaiseLine, raiseFunc: "include_single_file", raiseSrc: includeRaiseSrc}
	}
	return c.parseFile(fn)
}

// layers is CookerDataBuilder.parseConfigurationFiles from bblayers.conf
// to the layer series check, in the behaviour of the running release:
// BitBake 2.x takes each collection's LAYERSERIES_COMPAT right after its
// layer.conf and the core series from the first layer that sets
// LAYERSERIES_CORENAMES; BitBake 1.x reads both after all layers.
func (c *conf) layers(bblayers, topdir string) ([]string, error) {
	c.d.setVar("TOPDIR", topdir)
	if err := c.parseFile(bblayers); err != nil {
		return nil, err
	}
	layers := strings.Fields(c.d.get("BBLAYERS"))
	if len(layers) == 0 {
		return nil, &fatalError{"The bblayers.conf file doesn't contain any BBLAYERS definition"}
	}
	var broken []string
	for _, l := range layers {
		if st, err := os.Stat(l); err != nil || !st.IsDir() {
			broken = append(broken, l)
		}
	}
	if len(broken) > 0 {
		msg := "The following layer directories do not exist:"
		for _, l := range broken {
			msg += "\nERROR:    " + l
		}
		return nil, &fatalError{msg + "\nERROR: Please check BBLAYERS in " + bblayers}
	}
	var series []string
	compat := map[string][]string{}
	for i, l := range layers {
		l = strings.TrimRight(l, "/")
		layers[i] = l
		c.d.setVar("LAYERDIR", l)
		c.d.setVar("LAYERDIR_RE", regexp.QuoteMeta(l))
		lc := filepath.Join(l, "conf", "layer.conf")
		if err := c.parseFile(lc); err != nil {
			if os.IsNotExist(err) {
				return nil, &fatalError{fmt.Sprintf("Unable to parse %s: [Errno 2] No such file or directory: '%s'", lc, lc)}
			}
			return nil, err
		}
		c.freeze("LAYERDIR", l)
		if c.version.major >= 2 {
			for _, coll := range strings.Fields(c.d.get("BBFILE_COLLECTIONS")) {
				if e := c.d.get("LAYERSERIES_COMPAT_" + coll); strings.TrimSpace(e) != "" {
					compat[coll] = strings.Fields(e)
					c.d.delVar("LAYERSERIES_COMPAT_" + coll)
				}
			}
			if len(series) == 0 {
				if series = strings.Fields(c.d.get("LAYERSERIES_CORENAMES")); len(series) > 0 {
					c.d.delVar("LAYERSERIES_CORENAMES")
				}
			}
		}
	}
	c.d.delVar("LAYERDIR_RE")
	c.d.delVar("LAYERDIR")
	collections := strings.Fields(c.d.get("BBFILE_COLLECTIONS"))
	if c.version.major < 2 {
		series = strings.Fields(c.d.get("LAYERSERIES_CORENAMES"))
		for _, coll := range collections {
			compat[coll] = strings.Fields(c.d.get("LAYERSERIES_COMPAT_" + coll))
		}
	}
	seen := map[string]bool{}
	for _, coll := range collections {
		if seen[coll] {
			return nil, &fatalError{fmt.Sprintf("Found duplicated BBFILE_COLLECTIONS '%s', check bblayers.conf or layer.conf to fix it.", coll)}
		}
		seen[coll] = true
		want := compat[coll]
		if len(want) > 0 && len(series) == 0 {
			return nil, &fatalError{fmt.Sprintf("No core layer found to work with layer '%s'. Missing entry in bblayers.conf?", coll)}
		}
		if len(want) > 0 && !intersects(want, series) {
			// BitBake joins Python sets here, so with several names the
			// order varies between runs; the stand-in keeps file order.
			return nil, &fatalError{fmt.Sprintf("Layer %s is not compatible with the core layer which only supports these series: %s (layer is compatible with %s)",
				coll, strings.Join(series, " "), strings.Join(uniq(want), " "))}
		}
		if len(want) == 0 {
			c.warns = append(c.warns, fmt.Sprintf("Layer %s should set LAYERSERIES_COMPAT_%s in its conf/layer.conf file to list the core layer names it is compatible with.", coll, coll))
		}
	}
	if c.version.major >= 2 {
		for coll, e := range compat {
			s := uniq(e)
			sort.Strings(s)
			c.d.setVar("LAYERSERIES_COMPAT_"+coll, strings.Join(s, " "))
		}
		s := uniq(series)
		sort.Strings(s)
		c.d.setVar("LAYERSERIES_CORENAMES", strings.Join(s, " "))
	}
	return layers, nil
}

// freeze is data.expandVarref: every value referring to ${name} gets the
// current value written in, so LAYERDIR means the layer that set it.
func (c *conf) freeze(name, val string) {
	ref := "${" + name + "}"
	for _, v := range c.d.vars {
		v.val = strings.ReplaceAll(v.val, ref, val)
		v.weak = strings.ReplaceAll(v.weak, ref, val)
		for i := range v.appends {
			v.appends[i] = strings.ReplaceAll(v.appends[i], ref, val)
		}
		for i := range v.prepends {
			v.prepends[i] = strings.ReplaceAll(v.prepends[i], ref, val)
		}
	}
}

// baseConfig stands in for oe-core's conf/bitbake.conf, which the stand-in
// does not parse: it includes the build dir's site.conf, auto.conf and
// local.conf, then the machine and distro confs, found along BBPATH.
func (c *conf) baseConfig(topdir string) error {
	pseudo := filepath.Join(topdir, "conf", "bitbake.conf")
	for _, fn := range []string{"conf/site.conf", "conf/auto.conf", "conf/local.conf"} {
		if err := c.include(pseudo, 0, fn, false); err != nil {
			return err
		}
	}
	for _, fn := range []string{"conf/machine/${MACHINE}.conf", "conf/distro/${DISTRO}.conf"} {
		fn = c.d.expand(fn, 0)
		if strings.Contains(fn, "${") {
			continue
		}
		if err := c.include(pseudo, 0, fn, false); err != nil {
			return err
		}
	}
	return nil
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
