package config

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is a configuration mistake located in a file.
type FieldError struct {
	File string // config file, or "environment" / "built-in profile"
	Line int    // 0 when the key is not in the file (e.g. missing value)
	Key  string // dotted key path, arrays indexed: layer[2].url
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every mistake found in one load, in file order. It is a usage
// error: commands exit 2 on it.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ExitStatus makes config errors exit 2 (bad config/usage).
func (es Errors) ExitStatus() int { return 2 }

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
		}
		return es[i].Line < es[j].Line
	})
	return es
}
