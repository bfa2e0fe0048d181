package taskgraph

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func parseString(t testing.TB, s string) *Graph {
	t.Helper()
	g, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParseBitbakeFile(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "testdata", "task-depends.dot"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if g.Warnings != 0 || len(g.Nodes) != 19 {
		t.Fatalf("%d nodes, %d warnings", len(g.Nodes), g.Warnings)
	}
	i, ok := g.Lookup("busybox.do_configure")
	if !ok {
		t.Fatal("busybox.do_configure missing")
	}
	n := g.Nodes[i]
	if n.PN != "busybox" || n.Task != "do_configure" || n.Version != ":1.36.1-r0" || n.PF() != "busybox-1.36.1-r0" ||
		n.File != "/work/layers/poky/meta/recipes-core/busybox/busybox_1.36.1.bb" {
		t.Errorf("node %+v PF %s", n, n.PF())
	}
	var deps []string
	for _, d := range g.Deps[i] {
		deps = append(deps, g.Nodes[d].ID)
	}
	if !slices.Equal(deps, []string{"busybox.do_unpack", "zlib-native.do_populate_sysroot"}) {
		t.Errorf("deps %v", deps)
	}
}

func TestParseOddities(t *testing.T) {
	g := parseString(t, `digraph depends {
"glib-2.0.do_compile" [label="glib-2.0 do_compile\n1:2.78.0-r0\n/x/glib-2.0_2.78.0.bb"]
"glib-2.0.do_compile" -> "glib-2.0.do_configure";
"mc:arm:foo.do_build" -> "glib-2.0.do_compile"
"a.do_x" -> "a.do_x"
"q\"uote.do_y"
this is not dot
"unterminated -> "x"
}`)
	i, ok := g.Lookup("glib-2.0.do_compile")
	if !ok {
		t.Fatal("dotted PN lost")
	}
	if n := g.Nodes[i]; n.PN != "glib-2.0" || n.Task != "do_compile" || n.PF() != "glib-2.0-1_2.78.0-r0" {
		t.Errorf("node %+v PF %s", n, n.PF())
	}
	if _, ok := g.Lookup("glib-2.0.do_configure"); !ok {
		t.Error("edge target not created")
	}
	if j, ok := g.Lookup("mc:arm:foo.do_build"); !ok || g.Nodes[j].PN != "mc:arm:foo" {
		t.Error("multiconfig node")
	}
	if j, ok := g.Lookup("a.do_x"); !ok || len(g.Deps[j]) != 0 {
		t.Error("self loop must be dropped")
	}
	if _, ok := g.Lookup(`q"uote.do_y`); !ok {
		t.Error("escaped quote")
	}
	if g.Warnings != 2 {
		t.Errorf("%d warnings, want 2", g.Warnings)
	}
}

// TestLongestPathHandChecked works on this graph (A -> B: A depends on B),
// weights in brackets:
//
//	fetch[2] <- unpack[1] <- configure[10] <- compile[30] <- install[3]
//	                                                         ^
//	lib.populate[5] <- lib.compile[40] <- lib.fetch[1]       |
//	      ^------------------------------ configure          |
//	install <- package[10] ; install <- sysroot[3]
//	image[20] -> package, sysroot
//
// Chains into image: via lib: 1+40+5+10+30+3+10+20 = 119; via fetch/unpack:
// 2+1+10+30+3+10+20 = 76. The longest path is therefore lib.fetch,
// lib.compile, lib.populate, app.configure, app.compile, app.install,
// app.package, img.image = 119.
func TestLongestPathHandChecked(t *testing.T) {
	g := parseString(t, `digraph depends {
"app.do_compile" -> "app.do_configure"
"app.do_configure" -> "app.do_unpack"
"app.do_configure" -> "lib.do_populate_sysroot"
"app.do_install" -> "app.do_compile"
"app.do_package" -> "app.do_install"
"app.do_populate_sysroot" -> "app.do_install"
"app.do_unpack" -> "app.do_fetch"
"img.do_image" -> "app.do_package"
"img.do_image" -> "app.do_populate_sysroot"
"lib.do_compile" -> "lib.do_fetch"
"lib.do_populate_sysroot" -> "lib.do_compile"
}`)
	w := map[string]float64{"app.do_fetch": 2, "app.do_unpack": 1, "app.do_configure": 10, "app.do_compile": 30, "app.do_install": 3,
		"app.do_package": 10, "app.do_populate_sysroot": 3, "img.do_image": 20, "lib.do_fetch": 1, "lib.do_compile": 40, "lib.do_populate_sysroot": 5}
	path, total, cycles := g.LongestPath(func(n int) (float64, bool) { return w[g.Nodes[n].ID], true })
	var ids []string
	for _, n := range path {
		ids = append(ids, g.Nodes[n].ID)
	}
	want := []string{"lib.do_fetch", "lib.do_compile", "lib.do_populate_sysroot", "app.do_configure", "app.do_compile", "app.do_install", "app.do_package", "img.do_image"}
	if !slices.Equal(ids, want) || total != 119 || cycles != 0 {
		t.Errorf("path %v total %v cycles %d\nwant %v total 119", ids, total, cycles, want)
	}
	// Make lib fast: the app's own fetch chain (2+1) now beats lib (1+0+1).
	w["lib.do_compile"], w["lib.do_populate_sysroot"] = 0, 1
	path, total, _ = g.LongestPath(func(n int) (float64, bool) { return w[g.Nodes[n].ID], true })
	if g.Nodes[path[0]].ID != "app.do_fetch" || total != 76 {
		t.Errorf("after speeding lib up: starts at %s, total %v; want app.do_fetch, 76", g.Nodes[path[0]].ID, total)
	}
	// lib restored from sstate: its populate_sysroot (setscene, 5 s) waited
	// for nothing, so lib's compile (40 s) no longer counts even though it
	// is heavy: 5+10+30+3+10+20 = 78, starting at lib.do_populate_sysroot.
	w["lib.do_compile"], w["lib.do_populate_sysroot"] = 40, 5
	path, total, _ = g.LongestPath(func(n int) (float64, bool) {
		id := g.Nodes[n].ID
		return w[id], id != "lib.do_populate_sysroot"
	})
	if g.Nodes[path[0]].ID != "lib.do_populate_sysroot" || total != 78 || len(path) != 6 {
		t.Errorf("setscene cut: path from %s, %d nodes, total %v; want lib.do_populate_sysroot, 6, 78", g.Nodes[path[0]].ID, len(path), total)
	}
}

func TestLongestPathTiesAndCycles(t *testing.T) {
	// Equal chains: the lexically smaller ID wins, whatever the file order.
	for _, src := range []string{"\"z.do_b\" -> \"z.do_a\"\n\"y.do_b\" -> \"y.do_a\"\n", "\"y.do_b\" -> \"y.do_a\"\n\"z.do_b\" -> \"z.do_a\"\n"} {
		g := parseString(t, src)
		path, total, _ := g.LongestPath(func(int) (float64, bool) { return 1, true })
		if total != 2 || g.Nodes[path[0]].ID != "y.do_a" || g.Nodes[path[1]].ID != "y.do_b" {
			t.Errorf("tie broken to %v", path)
		}
	}
	g := parseString(t, "\"a.x\" -> \"a.y\"\n\"a.y\" -> \"a.z\"\n\"a.z\" -> \"a.x\"\n")
	path, total, cycles := g.LongestPath(func(int) (float64, bool) { return 1, true })
	if cycles != 1 || total != 3 || len(path) != 3 {
		t.Errorf("cycle: path %v total %v cycles %d", path, total, cycles)
	}
	if p, tot, _ := (&Graph{}).LongestPath(func(int) (float64, bool) { return 1, true }); p != nil || tot != 0 {
		t.Error("empty graph")
	}
}

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "task-depends.dot"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("\"a.x\" -> \"a.y\"\n\"a.y\" -> \"a.x\"\n\"b\" [label=\"\\\"\\n\"]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			return // only lines over 16 MiB
		}
		weight := func(n int) (float64, bool) { return float64(len(g.Nodes[n].ID)%7) + 0.5, len(g.Nodes[n].ID)%3 != 0 }
		path, total, _ := g.LongestPath(weight)
		var sum float64
		for k, n := range path {
			w, waited := weight(n)
			sum += w
			if k > 0 && !waited {
				t.Fatalf("path runs through %s, which did not wait for its dependencies", g.Nodes[n].ID)
			}
			if k > 0 && !slices.Contains(g.Deps[n], int32(path[k-1])) {
				t.Fatalf("path step %s -> %s is not an edge", g.Nodes[n].ID, g.Nodes[path[k-1]].ID)
			}
		}
		if len(g.Nodes) > 0 && (len(path) == 0 || sum != total) {
			t.Fatalf("path weight %v, total %v", sum, total)
		}
	})
}

// Two steps' graphs share a native recipe: merged, the chain runs from one
// step's image through the shared task into the other's, and a node in
// both files is one node with both files' edges.
func TestParseAllMergesSteps(t *testing.T) {
	a := `digraph depends {
"zlib-native.do_install" [label="zlib-native do_install\n:1.3.1-r0\n/l/zlib.bb"]
"dom0-image.do_rootfs" [label="dom0-image do_rootfs\n:1.0-r0\n/l/dom0-image.bb"]
"dom0-image.do_rootfs" -> "zlib-native.do_install"
}
`
	b := `digraph depends {
"zlib-native.do_install" [label="zlib-native do_install\n:1.3.1-r0\n/l/zlib.bb"]
"zlib-native.do_install" -> "zlib-native.do_compile"
"installer-image.do_rootfs" -> "zlib-native.do_install"
}`
	g, err := ParseAll(strings.NewReader(a), strings.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 4 || g.Warnings != 0 {
		t.Fatalf("%d nodes, %d warnings", len(g.Nodes), g.Warnings)
	}
	w := map[string]float64{"zlib-native.do_compile": 5, "zlib-native.do_install": 1, "dom0-image.do_rootfs": 3, "installer-image.do_rootfs": 7}
	path, total, _ := g.LongestPath(func(n int) (float64, bool) { return w[g.Nodes[n].ID], true })
	var ids []string
	for _, n := range path {
		ids = append(ids, g.Nodes[n].ID)
	}
	if total != 13 || !slices.Equal(ids, []string{"zlib-native.do_compile", "zlib-native.do_install", "installer-image.do_rootfs"}) {
		t.Errorf("path %v total %v", ids, total)
	}
	// One file with no trailing newline does not glue its last line to the
	// next file's first.
	g, _ = ParseAll(strings.NewReader(`"x.do_a" -> "x.do_b"`), strings.NewReader(`"y.do_a" -> "y.do_b"`))
	if len(g.Nodes) != 4 || g.Warnings != 0 {
		t.Errorf("%d nodes, %d warnings", len(g.Nodes), g.Warnings)
	}
}
