package config

import (
	"fmt"
	"regexp"
	"strings"
)

// ShellAssignment is one KEY=VALUE line of an OpenXT .config.
type ShellAssignment struct {
	Name  string
	Value string // after quote removal and ${VAR} expansion
	Line  int
}

// ShellNote is something in the file that could not be taken over.
type ShellNote struct {
	Line int
	Text string
}

var shellAssignRE = regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=`)

// ParseShellConfig reads KEY=VALUE assignments the way sh would assign them
// (quotes, escapes, $VAR and ${VAR} references to earlier keys, ${VAR:-x}
// defaults) without executing anything. Command substitution and other
// shell code are reported, never run.
func ParseShellConfig(src string) ([]ShellAssignment, []ShellNote) {
	vars := map[string]string{}
	var out []ShellAssignment
	var notes []ShellNote
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := shellAssignRE.FindStringSubmatch(line)
		if m == nil {
			notes = append(notes, ShellNote{lineNo, fmt.Sprintf("not an assignment, ignored: %s", line)})
			continue
		}
		rest := line[len(m[0]):]
		// A quoted value may continue on the next lines.
		for unclosedQuote(rest) && i+1 < len(lines) {
			i++
			rest += "\n" + lines[i]
		}
		val, err := shellWord(rest, vars)
		if err != nil {
			notes = append(notes, ShellNote{lineNo, fmt.Sprintf("%s: %v; set it by hand", m[1], err)})
			continue
		}
		vars[m[1]] = val
		out = append(out, ShellAssignment{Name: m[1], Value: val, Line: lineNo})
	}
	return out, notes
}

func unclosedQuote(s string) bool {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case quote == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = 0
			}
		case c == '\\':
			i++
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return false
		}
	}
	return quote != 0
}

// shellWord evaluates the value part of an assignment: one shell word, then
// optional whitespace and a comment. Anything after that is a command.
func shellWord(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			rest := strings.TrimSpace(s[i:])
			if rest != "" && !strings.HasPrefix(rest, "#") && !strings.HasPrefix(rest, ";") {
				return "", fmt.Errorf("runs a command (%q)", rest)
			}
			return b.String(), nil
		case c == ';':
			return b.String(), nil
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unclosed single quote")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			i++
			for {
				if i >= len(s) {
					return "", fmt.Errorf("unclosed double quote")
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					if s[i+1] != '\n' {
						b.WriteByte(s[i+1])
					}
					i += 2
					continue
				}
				if c == '$' || c == '`' {
					n, err := expand(s[i:], vars, &b)
					if err != nil {
						return "", err
					}
					i += n
					continue
				}
				b.WriteByte(c)
				i++
			}
		case c == '\\':
			if i+1 < len(s) {
				b.WriteByte(s[i+1])
			}
			i += 2
		case c == '$' || c == '`':
			n, err := expand(s[i:], vars, &b)
			if err != nil {
				return "", err
			}
			i += n
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

var (
	simpleVarRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)`)
	bracedVarRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])([^}]*))?\}`)
)

// expand handles one $ or backtick expansion at the start of s, writing the
// result to b and returning how many bytes it consumed.
func expand(s string, vars map[string]string, b *strings.Builder) (int, error) {
	if s[0] == '`' || strings.HasPrefix(s, "$(") {
		return 0, fmt.Errorf("uses command substitution, which is never executed")
	}
	if m := bracedVarRE.FindStringSubmatch(s); m != nil {
		v, set := vars[m[1]]
		if m[2] != "" && (!set || (strings.HasPrefix(m[2], ":") && v == "")) {
			v = m[3]
		}
		b.WriteString(v)
		return len(m[0]), nil
	}
	if strings.HasPrefix(s, "${") {
		return 0, fmt.Errorf("uses a parameter expansion xtbuild does not evaluate (%s)", s)
	}
	if m := simpleVarRE.FindStringSubmatch(s); m != nil {
		b.WriteString(vars[m[1]])
		return len(m[0]), nil
	}
	b.WriteByte('$')
	return 1, nil
}
