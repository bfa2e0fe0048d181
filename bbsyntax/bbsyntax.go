// Package bbsyntax is xtbuild's one owner of BitBake syntax: it quotes values
// for generated files and checks whole files the way BitBake's parsers
// (ConfHandler for .conf, BBHandler for .bb/.bbappend/.bbclass) accept them,
// so a generated file that would stop BitBake is caught before BitBake runs.
package bbsyntax

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Mode selects which parser's grammar applies.
type Mode int

const (
	// Conf is BitBake's ConfHandler: local.conf, bblayers.conf, layer.conf,
	// machine and distro confs. Only assignments and a few directives.
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

var (
	// BitBake's __config_regexp__ up to the opening quote; the quote, value
	// and the closing-quote rule are checked by hand because RE2 has no
	// back-references or look-ahead.
	assignRE = regexp.MustCompile(`^(export\s+)?([a-zA-Z0-9\-_+.${}/~:]+?)(\[[a-zA-Z0-9\-_+.][a-zA-Z0-9\-_+.@]*\])?\s*(:=|\?\?=|\?=|\+=|=\+|=\.|\.=|=)\s*`)
	includeRE   = regexp.MustCompile(`^(include|require|include_all)\s+(.+)`)
	exportRE    = regexp.MustCompile(`^export\s+[a-zA-Z0-9\-_+.${}/~]+$`)
	unsetRE     = regexp.MustCompile(`^unset\s+[a-zA-Z0-9\-_+.${}/~]+$`)
	unsetFlagRE = regexp.MustCompile(`^unset\s+[a-zA-Z0-9\-_+.${}/~]+\[[a-zA-Z0-9\-_+.][a-zA-Z0-9\-_+.@]+\]$`)
	addpylibRE  = regexp.MustCompile(`^addpylib\s+(.+)\s+(.+)`)

	funcStartRE = regexp.MustCompile(`^((python\s*|fakeroot\s+)*)([\w.\-+{}$:]+)?\s*\(\s*\)\s*\{$`)
	pyFuncStart = regexp.MustCompile(`^(python|fakeroot\s+python)\b`)
	defRE       = regexp.MustCompile(`^def\s+\w+.*:`)
	inheritRE   = regexp.MustCompile(`^(inherit|inherit_defer)\s+(.+)`)
	exportFnRE  = regexp.MustCompile(`^EXPORT_FUNCTIONS\s+(.+)`)
	addtaskRE   = regexp.MustCompile(`^addtask\s+\w+`)
	deltaskRE   = regexp.MustCompile(`^deltask\s+(.+)`)
	addhandlRE  = regexp.MustCompile(`^addhandler\s+(.+)`)
)

// Check parses src in the given mode and returns every problem found.
func Check(src string, mode Mode) Errors {
	var errs Errors
	lines := strings.Split(src, "\n")
	if strings.HasSuffix(src, "\n") {
		lines = lines[:len(lines)-1]
	}
	var (
		inFunc   bool // shell or python() { ... } body, ends at a line "}"
		inDef    bool // def name(): body, indented lines
		funcLine int
		residue  []string
		resStart int
	)
	for i, raw := range lines {
		lineNo := i + 1
		s := strings.TrimRight(raw, " \t\r\n")
		if inFunc {
			if s == "}" {
				inFunc = false
			}
			continue
		}
		if inDef {
			if s == "" || s[0] == '#' || s[0] == ' ' || s[0] == '\t' {
				continue
			}
			inDef = false
		}
		if mode == Conf && len(residue) == 0 && strings.TrimSpace(s) == "" {
			continue
		}
		if len(residue) > 0 {
			first := residue[0]
			if first != "" && first[0] == '#' && (s == "" || s[0] != '#') {
				errs = append(errs, Error{resStart, "comment continued onto a non-comment line by a trailing backslash"})
			}
			if first != "" && first[0] != '#' && s != "" && s[0] == '#' {
				errs = append(errs, Error{lineNo, "comment in the middle of a multi-line expression"})
			}
		}
		if strings.HasSuffix(s, "\\") {
			if len(residue) == 0 {
				resStart = lineNo
			}
			residue = append(residue, s[:len(s)-1])
			continue
		}
		start := lineNo
		if len(residue) > 0 {
			start = resStart
			s = strings.Join(residue, "") + s
			residue = nil
		}
		if s == "" || s[0] == '#' {
			continue
		}
		if mode == Recipe {
			if m := funcStartRE.FindStringSubmatch(s); m != nil {
				inFunc, funcLine = true, start
				continue
			}
			if defRE.MatchString(s) {
				inDef = true
				continue
			}
			if inheritRE.MatchString(s) || exportFnRE.MatchString(s) || addtaskRE.MatchString(s) ||
				deltaskRE.MatchString(s) || addhandlRE.MatchString(s) {
				continue
			}
			if pyFuncStart.MatchString(s) {
				errs = append(errs, Error{start, "python function start must end with '() {'"})
				continue
			}
		}
		if msg := checkStatement(s, mode); msg != "" {
			errs = append(errs, Error{start, msg})
		}
	}
	if len(residue) > 0 {
		errs = append(errs, Error{resStart, "line continuation (trailing backslash) at end of file"})
	}
	if inFunc {
		errs = append(errs, Error{funcLine, "function body not closed by a line containing only }"})
	}
	return errs
}

// checkStatement applies ConfHandler.feeder's rules to one logical line.
func checkStatement(s string, mode Mode) string {
	assignMsg := ""
	if loc := assignRE.FindStringIndex(s); loc != nil {
		if assignMsg = checkQuoted(s[loc[1]:]); assignMsg == "" {
			return ""
		}
	}
	switch {
	case includeRE.MatchString(s), exportRE.MatchString(s), unsetRE.MatchString(s), unsetFlagRE.MatchString(s):
		return ""
	case mode == Conf && addpylibRE.MatchString(s):
		return ""
	case assignMsg != "":
		return assignMsg
	}
	return fmt.Sprintf("unparsed line: %q", s)
}

// checkQuoted checks the part after the operator: a value enclosed in
// matching quotes that end the line, rejecting what BitBake's look-aheads
// reject (exactly three quote characters of the same kind).
func checkQuoted(rest string) string {
	if rest == "" {
		return "missing value (use \"\" for an empty value)"
	}
	q := rest[0]
	if q != '"' && q != '\'' {
		return fmt.Sprintf("value must be quoted: %s", rest)
	}
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
// quote kinds cannot be represented and are refused.
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
