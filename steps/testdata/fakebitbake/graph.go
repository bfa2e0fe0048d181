package main

// bitbake -g: the task graph of the targets, written into the directory
// bitbake runs in (the build dir), as lib/bb/cooker.py's
// generateDotGraphFiles does in BitBake 1.46 and 2.8 alike:
//
//   - pn-buildlist: one PN a line, in the order the run queue met them;
//   - task-depends.dot: "digraph depends {", then per task, sorted by
//     "<pn>.<task>", a node line with the label "<pn> <task>\n<PE>:<PV>-<PR>\n
//     <recipe file>" followed by its edges to the tasks it depends on
//     (sorted), then "}";
//   - the old-format pn-depends.dot, package-depends.dot and
//     recipe-depends.dot are removed.
//
// The graph holds the tasks the stand-in runs for the same command line
// (recipeTasks), each depending on the one before it in its recipe. Limit:
// the stand-in does not model DEPENDS, so there are no edges between
// recipes and no tasks of recipes that were not named; a real graph of an
// image holds the whole dependency tree.
//
// Test knob: XTBUILD_FAKE_GRAPH_FAIL=1 makes -g fail after parsing, as a
// real one does when the run queue cannot be built.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// recipeTasks are the tasks a run of the recipe executes, in order: the
// named task alone with -c, otherwise the default task and what leads to it.
func recipeTasks(r recipe, task string) []string {
	if task != "" {
		return []string{task}
	}
	tasks := []string{"do_fetch", "do_compile", "do_install"}
	if r.vars["IMAGE_FSTYPES"] != "" {
		tasks = []string{"do_rootfs", "do_image_complete"}
	}
	return append(tasks, "do_build")
}

// writeGraph writes pn-buildlist and task-depends.dot into dir.
func writeGraph(dir string, recipes map[string]recipe, targets []string, task string) error {
	if os.Getenv("XTBUILD_FAKE_GRAPH_FAIL") == "1" {
		return fmt.Errorf("stand-in: task graph generation failed (XTBUILD_FAKE_GRAPH_FAIL)")
	}
	deps := map[string][]string{}
	label := map[string]string{}
	var pns []string
	for _, t := range targets {
		r, ok := recipes[t]
		if !ok {
			return fmt.Errorf("Nothing PROVIDES '%s'", t)
		}
		if !containsString(pns, t) {
			pns = append(pns, t)
		}
		prev := ""
		for _, tk := range recipeTasks(r, task) {
			id := t + "." + tk
			// Version as "%s:%s-%s" % (PE, PV, PR); PE is empty and PV-PR
			// is what main.go puts in the buildstats PF (<pn>-1.0-r0).
			label[id] = fmt.Sprintf(`%s %s\n:1.0-r0\n%s`, t, tk, r.path)
			if _, ok := deps[id]; !ok {
				deps[id] = nil
			}
			if prev != "" && !containsString(deps[id], prev) {
				deps[id] = append(deps[id], prev)
			}
			prev = id
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pn-buildlist"), []byte(strings.Join(pns, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Println("NOTE: PN build list saved to 'pn-buildlist'")
	for _, old := range []string{"pn-depends.dot", "package-depends.dot", "recipe-depends.dot"} {
		os.Remove(filepath.Join(dir, old))
	}
	ids := make([]string, 0, len(deps))
	for id := range deps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString("digraph depends {\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "\"%s\" [label=\"%s\"]\n", id, label[id])
		d := append([]string(nil), deps[id]...)
		sort.Strings(d)
		for _, to := range d {
			fmt.Fprintf(&b, "\"%s\" -> \"%s\"\n", id, to)
		}
	}
	b.WriteString("}\n")
	if err := os.WriteFile(filepath.Join(dir, "task-depends.dot"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Println("NOTE: Task dependencies saved to 'task-depends.dot'")
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
