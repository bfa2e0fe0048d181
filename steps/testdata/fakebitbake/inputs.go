package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// version is the running BitBake's version, read from its lib/bb/__init__.py.
type version struct {
	major, minor int
	text         string
}

var versionRE = regexp.MustCompile(`(?m)^__version__\s*=\s*["']([0-9]+)\.([0-9]+)[^"']*["']`)

// bitbakeDir is the BitBake checkout the stand-in plays: the one whose
// bin/bitbake ran it (XTBUILD_FAKE_BITBAKE_DIR, set by that wrapper), else
// the first bitbake on PATH.
func bitbakeDir() string {
	if d := os.Getenv("XTBUILD_FAKE_BITBAKE_DIR"); d != "" {
		return d
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "bitbake")); err == nil {
			return filepath.Dir(dir)
		}
	}
	return ""
}

// readVersion defaults to 2.8 when the checkout says nothing.
func readVersion(bbdir string) version {
	data, _ := os.ReadFile(filepath.Join(bbdir, "lib", "bb", "__init__.py"))
	m := versionRE.FindSubmatch(data)
	if m == nil {
		return version{2, 8, "2.8.0"}
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	full := regexp.MustCompile(`["']([^"']+)["']`).FindSubmatch(m[0])
	return version{major, minor, string(full[1])}
}

// colonOverrides reports whether this BitBake uses VAR:append (1.52 on).
func (v version) colonOverrides() bool { return v.major > 1 || v.minor >= 52 }

// layerCommit is the commit checked out in the git work tree holding
// layer (a sublayer's repository is found by walking up, never above
// topdir's parent), read from the repository files without running git.
// "untracked" when the layer is not in a repository.
func layerCommit(layer, topdir string) string {
	stop := filepath.Dir(topdir)
	for dir := layer; ; dir = filepath.Dir(dir) {
		gitPath := filepath.Join(dir, ".git")
		if st, err := os.Stat(gitPath); err == nil {
			gitDir := gitPath
			if !st.IsDir() {
				data, _ := os.ReadFile(gitPath)
				g, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir: ")
				if !ok {
					return "untracked"
				}
				if !filepath.IsAbs(g) {
					g = filepath.Join(dir, g)
				}
				gitDir = g
			}
			return resolveHead(gitDir)
		}
		if dir == stop || dir == filepath.Dir(dir) {
			return "untracked"
		}
	}
}

func resolveHead(gitDir string) string {
	data, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return "unreadable"
	}
	head := strings.TrimSpace(string(data))
	ref, ok := strings.CutPrefix(head, "ref: ")
	if !ok {
		return head // detached: the commit itself
	}
	common := gitDir
	if c, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		common = strings.TrimSpace(string(c))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gitDir, common)
		}
	}
	for _, d := range []string{gitDir, common} {
		if c, err := os.ReadFile(filepath.Join(d, ref)); err == nil {
			return strings.TrimSpace(string(c))
		}
	}
	if f, err := os.Open(filepath.Join(common, "packed-refs")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if sha, name, ok := strings.Cut(sc.Text(), " "); ok && name == ref {
				return sha
			}
		}
	}
	return "unborn " + ref
}

// inputs is what a real build's output depends on, as far as the stand-in
// models it: the BitBake version, each layer (in BBLAYERS order, named
// relative to the build dir) at its commit, and the resolved configuration.
type inputs struct {
	lines []string
}

// collectInputs records the build-wide inputs. The configuration is every
// variable set by a conf file, expanded, with the build dir written as
// ${TOPDIR} and other absolute paths as <path>: where the tree lives is
// not an input of a reproducible build, what it holds is.
func collectInputs(v version, layers []string, c *conf, topdir string) *inputs {
	in := &inputs{lines: []string{"bitbake " + v.text}}
	for _, l := range layers {
		rel, err := filepath.Rel(topdir, l)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = "<path>/" + filepath.Base(l)
		}
		in.lines = append(in.lines, fmt.Sprintf("layer %s %s", rel, layerCommit(l, topdir)))
	}
	var names []string
	for n, v := range c.d.vars {
		switch n {
		case "FILE", "TOPDIR", "BBLAYERS", "BBPATH", "BBFILES":
			continue
		}
		if hashExcluded[n] { // sstate.go
			continue
		}
		if v.fromConf {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		in.lines = append(in.lines, fmt.Sprintf("conf %s=%s", n, normalizePaths(c.d.get(n), topdir)))
	}
	return in
}

// normalizePaths writes topdir as ${TOPDIR} and replaces any other absolute
// path (also inside file:// URLs) by <path>.
func normalizePaths(val, topdir string) string {
	val = strings.ReplaceAll(val, topdir, "${TOPDIR}")
	fields := strings.Fields(val)
	for i, f := range fields {
		switch {
		case strings.HasPrefix(f, "/"):
			fields[i] = "<path>"
		case strings.HasPrefix(f, "file:///"):
			fields[i] = "file://<path>"
		}
	}
	return strings.Join(fields, " ")
}

// digest is the identity of one target's output: the build-wide inputs
// plus the machine, the target and its recipe's text.
func (in *inputs) digest(machine, target string, recipeText []byte) string {
	h := sha256.New()
	for _, l := range in.lines {
		fmt.Fprintln(h, l)
	}
	fmt.Fprintf(h, "machine %s\ntarget %s\n", machine, target)
	h.Write(recipeText)
	return hex.EncodeToString(h.Sum(nil))
}
