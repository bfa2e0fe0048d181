package config

import (
	"strconv"
	"strings"
)

// keyLines maps TOML key paths to the line they are defined on, so errors
// found after decoding (unknown keys, validation) can name file:line.
// BurntSushi/toml keeps positions private, so this scanner re-reads the
// source. It understands what positions need: tables, arrays of tables
// (indexed as layer[2]), dotted and quoted keys, multi-line strings and
// arrays; inline tables are located at their parent key's line.
type keyLines struct {
	exact map[string]int   // "layer[2].url" → line
	plain map[string][]int // "layer.url" → every line it occurs on
}

func scanKeyLines(src string) keyLines {
	kl := keyLines{exact: map[string]int{}, plain: map[string][]int{}}
	var table []string // current table path, array elements indexed
	arrays := map[string]int{}
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[[") {
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			parts := splitKey(line[2:end])
			base := strings.Join(parts, ".")
			idx := arrays[base]
			arrays[base] = idx + 1
			// Nested tables under an earlier array element restart here.
			for k := range arrays {
				if strings.HasPrefix(k, base+".") {
					delete(arrays, k)
				}
			}
			table = append(append([]string{}, parts[:len(parts)-1]...), parts[len(parts)-1]+"["+strconv.Itoa(idx)+"]")
			kl.add(table, lineNo)
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndex(line, "]")
			if end < 0 {
				continue
			}
			table = indexPath(splitKey(line[1:end]), arrays)
			kl.add(table, lineNo)
			continue
		}
		eq := keyEnd(line)
		if eq < 0 {
			continue
		}
		path := append(append([]string{}, table...), splitKey(line[:eq])...)
		kl.add(path, lineNo)
		// Skip continuation lines of multi-line values.
		i = skipValue(lines, i, line[eq+1:])
	}
	return kl
}

// indexPath rewrites a table header under an array of tables (e.g.
// [layer.extra] after two [[layer]]) to point at the latest element.
func indexPath(parts []string, arrays map[string]int) []string {
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		base := strings.Join(parts[:i+1], ".")
		if n, ok := arrays[base]; ok && n > 0 && i < len(parts)-1 {
			p += "[" + strconv.Itoa(n-1) + "]"
		}
		out = append(out, p)
	}
	return out
}

func (kl keyLines) add(path []string, line int) {
	full := strings.Join(path, ".")
	if _, ok := kl.exact[full]; !ok {
		kl.exact[full] = line
	}
	p := plainPath(full)
	kl.plain[p] = append(kl.plain[p], line)
}

// plainPath drops array indexes: layer[2].url → layer.url.
func plainPath(p string) string {
	var b strings.Builder
	skip := false
	for _, r := range p {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// line returns the line of path or of its nearest defined ancestor, 0 if none.
func (kl keyLines) line(path string) int {
	for p := path; p != ""; {
		if l, ok := kl.exact[p]; ok {
			return l
		}
		if ls := kl.plain[p]; len(ls) > 0 && !strings.Contains(p, "[") {
			return ls[0]
		}
		cut := strings.LastIndexAny(p, ".[")
		if cut < 0 {
			break
		}
		p = p[:cut]
	}
	return 0
}

// splitKey splits a dotted TOML key, honouring quoted parts.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				c = s[i]
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

// keyEnd returns the index of the '=' ending the key, or -1.
func keyEnd(line string) int {
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// skipValue returns the index of the last line belonging to the value that
// starts on line i with text v (multi-line strings and arrays span lines).
func skipValue(lines []string, i int, v string) int {
	depth := 0
	ml := "" // open multi-line string delimiter
	for {
		for j := 0; j < len(v); j++ {
			if ml != "" {
				if strings.HasPrefix(v[j:], ml) {
					j += 2
					ml = ""
				} else if v[j] == '\\' && ml == `"""` {
					j++
				}
				continue
			}
			switch c := v[j]; {
			case strings.HasPrefix(v[j:], `"""`) || strings.HasPrefix(v[j:], `'''`):
				ml = v[j : j+3]
				j += 2
			case c == '"' || c == '\'':
				for j++; j < len(v) && v[j] != c; j++ {
					if v[j] == '\\' && c == '"' {
						j++
					}
				}
			case c == '#':
				j = len(v)
			case c == '[' || c == '{':
				depth++
			case c == ']' || c == '}':
				depth--
			}
		}
		if (depth <= 0 && ml == "") || i+1 >= len(lines) {
			return i
		}
		i++
		v = lines[i]
	}
}
