// Package bbsyntax is xtbuild's one owner of BitBake syntax: it quotes values
// for generated files and checks whole files the way BitBake's parsers
// (ConfHandler for .conf, BBHandler for .bb/.bbappend/.bbclass) accept them,
// so a generated file that would stop BitBake is caught before BitBake runs.
//
// The rules follow BitBake 2.8 (lib/bb/parse/parse_py/ConfHandler.py and
// BBHandler.py): the same line reading, continuation and comment rules, and
// the same statement patterns in the same order. Where Python's regular
// expressions rely on back-references or look-ahead, which Go's RE2 lacks, the
// equivalent test is written by hand.
package bbsyntax

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Mode selects which parser's grammar applies.
type Mode int

const (
	// Conf is BitBake's ConfHandler: local.conf, bblayers.conf, layer.conf,
	// machine and distro confs. Only assignments and a few directives.
	// addpylib is accepted, as BitBake does in base configuration
	// (bblayers.conf and layer.conf) only.
	Conf Mode = iota
	// Recipe is BitBake's BBHandler: .bb, .bbappend, .bbclass, .inc. It adds
	// functions, inherit, addtask and friends.
	Recipe
)

// Error is one syntax problem.
type Error struct {
	Line int
	Msg  string
}

func (e Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Errors is a list of problems in one file.
type Errors []Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// pyS is Python's \s for str patterns (Unicode whitespace, including \v and
// the \x1c-\x1f separators), which RE2's ASCII \s does not cover.
const pyS = `[\t\n\v\f\r \x1c-\x1f\x85\p{Z}]`

// pyW is Python's \w for str patterns.
const pyW = `[\p{L}\p{N}_]`

// re compiles a pattern written with Python's \s and \w.
func re(p string) *regexp.Regexp {
	p = strings.ReplaceAll(p, `\s`, pyS)
	p = strings.ReplaceAll(p, `\w`, pyW)
	return regexp.MustCompile(p)
}

// Patterns of ConfHandler.py and BBHandler.py. Python's re.match anchors at
// the start only, hence the leading ^ and no $ unless BitBake has one.
var (
	// __config_regexp__ up to the opening quote. The quote is always the
	// first quote character of the line (names, flags and operators cannot
	// contain one), so the prefix before it is matched here and the value
	// is checked by checkQuoted.
	assignPrefixRE = re(`^(export\s+)?[a-zA-Z0-9\-_+.${}/~:]+?(\[[a-zA-Z0-9\-_+.][a-zA-Z0-9\-_+.@]*\])?\s*(:=|\?\?=|\?=|\+=|=\+|=\.|\.=|=)\s*$`)
	// The same, for telling "value not quoted" apart from other garbage.
	assignStartRE = re(`^(export\s+)?[a-zA-Z0-9\-_+.${}/~:]+?(\[[a-zA-Z0-9\-_+.][a-zA-Z0-9\-_+.@]*\])?\s*(:=|\?\?=|\?=|\+=|=\+|=\.|\.=|=)`)
	// Captures the variable name of an unflagged assignment.
	assignNameRE = re(`^(export\s+)?([a-zA-Z0-9\-_+.${}/~:]+?)\s*(:=|\?\?=|\?=|\+=|=\+|=\.|\.=|=)`)

	includeRE   = re(`^include\s+(.+)`)
	requireRE   = re(`^require\s+(.+)`)
	exportRE    = re(`^export\s+([a-zA-Z0-9\-_+.${}/~]+)$`)
	unsetRE     = re(`^unset\s+([a-zA-Z0-9\-_+.${}/~]+)$`)
	unsetFlagRE = re(`^unset\s+([a-zA-Z0-9\-_+.${}/~]+)\[([a-zA-Z0-9\-_+.][a-zA-Z0-9\-_+.@]+)\]$`)
	addpylibRE  = re(`^addpylib\s+(.+)\s+(.+)`)

	// __func_start_regexp__ without its look-aheads: "python" or "fakeroot"
	// not followed by the required character can always be read as part of
	// the function name instead, so the set of accepted lines is the same.
	funcStartRE  = re(`^((python\s*|fakeroot\s+)*)([\p{L}\p{N}_.\-+{}$:]+)?\s*\(\s*\)\s*\{$`)
	pyFuncStart  = re(`^(python|fakeroot\s+python)\b`)
	defRE        = re(`^def\s+(\w+).*:`)
	inheritRE    = re(`^inherit\s+(.+)`)
	inheritDefRE = re(`^inherit_defer\s+(.+)`)
	exportFnRE   = re(`^EXPORT_FUNCTIONS\s+(.+)`)
	addtaskRE    = re(`^addtask\s+(\w+)`)
	deltaskRE    = re(`^deltask\s+(.+)`)
	addhandlRE   = re(`^addhandler\s+(.+)`)
)

// statement is one parsed logical line that BitBake turns into setVar.
type statement struct {
	line int
	name string // variable or function name as written
}

// Check parses src in the given mode and returns every problem found.
// Where BitBake stops at the first fatal error, Check reports it and goes on.
func Check(src string, mode Mode) Errors {
	errs, _ := parse(src, mode)
	return errs
}

// OldOverrideSyntax reports assignments and functions whose names contain
// "_append", "_prepend" or "_remove": BitBake 1.52 and later (Yocto
// honister and later) refuse them as the pre-1.52 override syntax when the
// file is evaluated, even though the line itself parses. Use it on output
// generated for a release with colon overrides.
func OldOverrideSyntax(src string, mode Mode) Errors {
	_, stmts := parse(src, mode)
	var errs Errors
	for _, s := range stmts {
		if strings.HasPrefix(s.name, "__anon_") {
			continue
		}
		for _, kw := range []string{"_append", "_prepend", "_remove"} {
			if strings.Contains(s.name, kw) {
				errs = append(errs, Error{s.line, fmt.Sprintf("%s uses the old override syntax %q (use %q)", s.name, kw, ":"+kw[1:])})
				break
			}
		}
	}
	return errs
}

func parse(src string, mode Mode) (Errors, []statement) {
	// Python reads files in universal-newline text mode.
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	lines := strings.Split(src, "\n")
	if strings.HasSuffix(src, "\n") {
		lines = lines[:len(lines)-1]
	}
	p := &parser{mode: mode}
	if mode == Conf {
		p.conf(lines)
	} else {
		p.recipe(lines)
	}
	return p.errs, p.stmts
}

type parser struct {
	mode  Mode
	errs  Errors
	stmts []statement

	// BBHandler state.
	inFunc   bool
	funcLine int
	inPython bool
	residue  []string
	resStart int
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, Error{line, fmt.Sprintf(format, args...)})
}

// isPySpace is Python's str.isspace for one rune.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

func rstrip(s string) string { return strings.TrimRightFunc(s, isPySpace) }

// conf follows ConfHandler.handle: blank lines are skipped, a trailing
// backslash pulls in the next line (at end of file, an empty one), and a
// comment may only be continued by comment lines.
func (p *parser) conf(lines []string) {
	for i := 0; i < len(lines); i++ {
		start := i + 1
		if strings.TrimFunc(lines[i], isPySpace) == "" {
			continue
		}
		s := rstrip(lines[i])
		confused := false
		for s != "" && s[len(s)-1] == '\\' {
			s2 := "" // at end of file BitBake keeps reading empty lines
			if i+1 < len(lines) {
				i++
				s2 = rstrip(lines[i])
			}
			if (s2 == "" || s2[0] != '#') && s[0] == '#' && !confused {
				p.errorf(start, "comment continued onto a non-comment line by a trailing backslash")
				confused = true
			}
			s = s[:len(s)-1] + s2
		}
		if confused {
			continue
		}
		if s == "" {
			p.errorf(start, "line continuation leaves an empty line (BitBake crashes on it)")
			continue
		}
		if s[0] == '#' {
			continue
		}
		p.feedConf(start, s)
	}
}

// recipe follows BBHandler.get_statements/feeder line by line.
func (p *parser) recipe(lines []string) {
	for i, raw := range lines {
		p.feedRecipe(i+1, rstrip(raw))
	}
	if len(p.residue) > 0 {
		p.errorf(p.resStart, "line continuation (trailing backslash) at end of file")
	}
	if p.inFunc {
		p.errorf(p.funcLine, "function body not closed by a line containing only }")
	}
}

func (p *parser) feedRecipe(lineNo int, s string) {
	if p.inFunc {
		if s == "}" {
			p.inFunc = false
		}
		return
	}
	if p.inPython {
		// __python_func_regexp__: indented, empty or comment lines stay in
		// the def body.
		if s == "" || s[0] == '#' || isPySpace(firstRune(s)) {
			return
		}
		p.inPython = false
	}
	if len(p.residue) > 0 && p.residue[0] == "" {
		// BitBake indexes residue[0][0] here and dies with IndexError.
		p.errorf(p.resStart, "line continuation of an empty line (BitBake crashes on it)")
		p.residue = nil
		return
	}
	if s != "" && s[0] == '#' && len(p.residue) > 0 && p.residue[0][0] != '#' {
		p.errorf(lineNo, "comment in the middle of a multi-line expression")
		return
	}
	if len(p.residue) > 0 && p.residue[0][0] == '#' && (s == "" || s[0] != '#') {
		p.errorf(p.resStart, "comment continued onto a non-comment line by a trailing backslash")
		p.residue = nil
		return
	}
	if s != "" && s[len(s)-1] == '\\' {
		if len(p.residue) == 0 {
			p.resStart = lineNo
		}
		p.residue = append(p.residue, s[:len(s)-1])
		return
	}
	start := lineNo
	if len(p.residue) > 0 {
		start = p.resStart
		s = strings.Join(p.residue, "") + s
		p.residue = nil
	}
	if s == "" || s[0] == '#' {
		return
	}
	if m := funcStartRE.FindStringSubmatch(s); m != nil {
		p.inFunc, p.funcLine = true, start
		name := m[3]
		if name == "" {
			name = "__anon_"
		}
		p.stmts = append(p.stmts, statement{start, name})
		return
	}
	if m := defRE.FindStringSubmatch(s); m != nil {
		p.inPython = true
		p.stmts = append(p.stmts, statement{start, m[1]})
		return
	}
	if exportFnRE.MatchString(s) {
		return
	}
	if addtaskRE.MatchString(s) {
		// BitBake refuses task names carrying an override keyword.
		for _, word := range strings.FieldsFunc(s, isPySpace) {
			for _, kw := range []string{":append", ":prepend", ":remove"} {
				if strings.Contains(word, kw+"_") {
					p.errorf(start, "task name %q contains the keyword %q", word, kw)
				}
			}
		}
		return
	}
	if deltaskRE.MatchString(s) || addhandlRE.MatchString(s) || inheritRE.MatchString(s) || inheritDefRE.MatchString(s) {
		return
	}
	if msg := p.statement(start, s); msg != "" {
		if pyFuncStart.MatchString(s) {
			msg = "python function start must end with '() {'"
		}
		p.errorf(start, "%s", msg)
	}
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

func (p *parser) feedConf(line int, s string) {
	if msg := p.statement(line, s); msg != "" {
		p.errorf(line, "%s", msg)
	}
}

// statement applies ConfHandler.feeder's rules to one logical line and
// returns a message when no rule accepts it.
func (p *parser) statement(line int, s string) string {
	assignMsg := ""
	if q := strings.IndexAny(s, `"'`); q >= 0 && assignPrefixRE.MatchString(s[:q]) {
		if assignMsg = checkQuoted(s[q:]); assignMsg == "" {
			// ??= only sets a flag; every other operator calls setVar.
			if m := assignNameRE.FindStringSubmatch(s); m != nil && m[3] != "??=" {
				p.stmts = append(p.stmts, statement{line, m[2]})
			}
			return ""
		}
	} else if assignStartRE.MatchString(s) {
		assignMsg = fmt.Sprintf("value must be quoted: %s", s)
	}
	switch {
	case includeRE.MatchString(s), requireRE.MatchString(s), exportRE.MatchString(s),
		unsetRE.MatchString(s), unsetFlagRE.MatchString(s):
		return ""
	case p.mode == Conf && addpylibRE.MatchString(s):
		// addpylib is a ConfHandler statement only (conffile=True).
		return ""
	case assignMsg != "":
		return assignMsg
	}
	return fmt.Sprintf("unparsed line: %q", s)
}

// checkQuoted checks the part from the opening quote on: a value enclosed
// in matching quotes that end the line, rejecting what BitBake's
// look-aheads reject (exactly three quote characters of the same kind).
func checkQuoted(rest string) string {
	q := rest[0]
	if len(rest) < 2 || rest[len(rest)-1] != q {
		return fmt.Sprintf("value not closed by %c at end of line: %s", q, rest)
	}
	if strings.Count(rest, string(q)) == 3 {
		return fmt.Sprintf("stray %c inside a %c-quoted value: %s", q, q, rest)
	}
	return ""
}

// ErrUnquotable is returned by Quote for values no BitBake quoting can carry.
var ErrUnquotable = errors.New("value cannot be written as a BitBake string")

// Quote returns value as a BitBake string literal, using double quotes
// unless the value contains one. BitBake does not unescape backslashes, so
// values are carried verbatim; line breaks, NULs and values containing both
// quote kinds cannot be represented and are refused, and so is a value
// BitBake would misread (a trailing backslash continues the line; exactly
// one more quote of the enclosing kind trips BitBake's look-ahead).
func Quote(value string) (string, error) {
	if strings.ContainsAny(value, "\n\r\x00") {
		return "", fmt.Errorf("%w: contains a line break or NUL", ErrUnquotable)
	}
	if strings.HasSuffix(value, "\\") {
		return "", fmt.Errorf("%w: ends with a backslash", ErrUnquotable)
	}
	switch {
	case !strings.Contains(value, `"`):
		return `"` + value + `"`, nil
	case !strings.Contains(value, `'`):
		return `'` + value + `'`, nil
	}
	return "", fmt.Errorf("%w: contains both ' and \"", ErrUnquotable)
}

// ValidVarName reports whether name can be assigned in a conf file.
func ValidVarName(name string) bool {
	return name != "" && varNameRE.MatchString(name)
}

var varNameRE = regexp.MustCompile(`^[a-zA-Z0-9\-_+.${}/~:]+$`)
