// Package taskgraph reads the task-depends.dot file that `bitbake -g` writes
// and finds the longest chain of dependent tasks through it.
//
// bitbake writes one node line per task and one edge line per dependency:
//
//	digraph depends {
//	"busybox.do_compile" [label="busybox do_compile\n:1.36.1-r0\n/path/busybox_1.36.1.bb"]
//	"busybox.do_compile" -> "busybox.do_configure"
//	}
//
// An edge A -> B means A depends on B (B runs first). The label's second line
// is PE:PV-PR, which joins a graph node to its buildstats directory (PF).
package taskgraph

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Node is one task of the graph.
type Node struct {
	ID      string // "<pn>.<task>" as bitbake writes it
	PN      string
	Task    string // do_compile
	Version string // "PE:PV-PR" from the label, "" when unlabelled
	File    string // recipe file from the label
}

// PF is the buildstats directory name of the node's recipe, PN-[PE_]PV-PR,
// or "" when the label carried no version.
func (n *Node) PF() string {
	if n.Version == "" {
		return ""
	}
	pe, pvpr, found := strings.Cut(n.Version, ":")
	if !found {
		pe, pvpr = "", n.Version
	}
	if pe != "" {
		return n.PN + "-" + pe + "_" + pvpr
	}
	return n.PN + "-" + pvpr
}

// Graph is the parsed task graph. Deps[i] lists the nodes node i depends on.
type Graph struct {
	Nodes []Node
	Deps  [][]int32
	index map[string]int32
	// Warnings counts lines that were not understood.
	Warnings int
}

// Lookup returns the index of the node with the given ID.
func (g *Graph) Lookup(id string) (int, bool) {
	i, ok := g.index[id]
	return int(i), ok
}

func (g *Graph) node(id string) int32 {
	if i, ok := g.index[id]; ok {
		return i
	}
	i := int32(len(g.Nodes))
	pn, task := splitID(id)
	g.Nodes = append(g.Nodes, Node{ID: id, PN: pn, Task: task})
	g.Deps = append(g.Deps, nil)
	g.index[id] = i
	return i
}

// splitID splits at the last dot: PNs may contain dots (glib-2.0), task names
// never do.
func splitID(id string) (pn, task string) {
	if i := strings.LastIndexByte(id, '.'); i >= 0 {
		return id[:i], id[i+1:]
	}
	return id, ""
}

// Parse reads task-depends.dot. It fails only on read errors; lines it does not
// understand are counted in Warnings.
func Parse(r io.Reader) (*Graph, error) { return ParseAll(r) }

// ParseAll reads several task-depends.dot files (one per bitbake run) into
// one graph: a task ("<pn>.<task>") named in several files is one node with
// the union of their dependencies, as if one bitbake run had built all the
// targets. A label read later replaces an earlier one of the same node.
func ParseAll(rs ...io.Reader) (*Graph, error) {
	g := &Graph{index: map[string]int32{}}
	for _, r := range rs {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
		for sc.Scan() {
			g.parseLine(strings.TrimSpace(sc.Text()))
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read task graph: %w", err)
		}
	}
	for i := range g.Deps {
		g.Deps[i] = dedup(g.Deps[i])
	}
	return g, nil
}

func dedup(s []int32) []int32 {
	if len(s) < 2 {
		return s
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

func (g *Graph) parseLine(line string) {
	if line == "" || line == "}" || strings.HasPrefix(line, "digraph") || strings.HasPrefix(line, "//") || strings.HasPrefix(line, "#") {
		return
	}
	from, rest, ok := quoted(line)
	if !ok {
		g.Warnings++
		return
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.HasPrefix(rest, "->"):
		to, tail, ok := quoted(strings.TrimSpace(rest[2:]))
		if !ok || strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(tail), ";")) != "" {
			g.Warnings++
			return
		}
		a, b := g.node(from), g.node(to)
		if a == b {
			return // a self-loop carries no ordering
		}
		g.Deps[a] = append(g.Deps[a], b)
	case strings.HasPrefix(rest, "["):
		n := g.node(from)
		if label, ok := attr(rest, "label"); ok {
			parts := strings.Split(label, "\n")
			if len(parts) >= 2 {
				g.Nodes[n].Version = parts[1]
			}
			if len(parts) >= 3 {
				g.Nodes[n].File = parts[2]
			}
		}
	case rest == "" || rest == ";":
		g.node(from)
	default:
		g.Warnings++
	}
}

// quoted reads a leading DOT double-quoted string, undoing \" and \\ escapes
// and turning \n into a newline (bitbake separates label lines with it).
func quoted(s string) (val, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), s[i+1:], true
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case '"', '\\':
				b.WriteByte(s[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", s, false
}

// attr finds key="value" inside a DOT attribute list.
func attr(list, key string) (string, bool) {
	for i := 0; i < len(list); {
		j := strings.Index(list[i:], key)
		if j < 0 {
			return "", false
		}
		j += i
		after := strings.TrimLeft(list[j+len(key):], " ")
		prev := byte(' ')
		if j > 0 {
			prev = list[j-1]
		}
		if (prev == '[' || prev == ' ' || prev == ',') && strings.HasPrefix(after, "=") {
			v, _, ok := quoted(strings.TrimLeft(after[1:], " "))
			return v, ok
		}
		i = j + len(key)
	}
	return "", false
}
