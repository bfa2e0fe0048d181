package bbconf

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// SrcrevConfFile holds the pins of the recipes that follow branch heads;
// local.conf includes it and setupoe always writes it (package srcrev).
const SrcrevConfFile = "conf/xtbuild-srcrev.conf"

// SrcrevPin fixes one recipe's source: Var (SRCREV or SRCREV_<name>) for
// PN Recipe.
type SrcrevPin struct {
	Recipe, Var, Commit string
}

// GitPremirror sends a git source (git://host/path, as in SRC_URI) to a
// bare mirror directory.
type GitPremirror struct {
	FetchURL, Mirror string
}

var (
	pinRecipeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)
	pinVarRE    = regexp.MustCompile(`^SRCREV(_[A-Za-z0-9.-]+)?$`)
	pinCommitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	gitURLRE    = regexp.MustCompile(`^git(sm)?://[A-Za-z0-9._~:@/+-]+$`)
	mirrorDirRE = regexp.MustCompile(`^/[A-Za-z0-9._~/+-]+$`)
)

// SrcrevConf renders SrcrevConfFile: SRCREV_pn-<recipe> lines in the
// release's override syntax (SRCREV:pn-<recipe> from kirkstone on) and a
// PREMIRRORS entry per mirrored repository (git://host/path to
// git://<mirror>;protocol=file), so that with every pin in place BitBake
// parses without asking any remote for a branch head.
func SrcrevConf(c *config.Config, pins []SrcrevPin, mirrors []GitPremirror) ([]byte, error) {
	w := &writer{}
	w.comment("Recipes that follow a branch (SRCREV = \"${AUTOREV}\"), fixed by setupoe to the")
	w.comment("commits in xtbuild.lock; [srcrev] in the config overrides. Do not edit.")
	w.blank()
	pins = append([]SrcrevPin(nil), pins...)
	sort.Slice(pins, func(i, j int) bool {
		if pins[i].Recipe != pins[j].Recipe {
			return pins[i].Recipe < pins[j].Recipe
		}
		return pins[i].Var < pins[j].Var
	})
	for _, p := range pins {
		if !pinRecipeRE.MatchString(p.Recipe) || !pinVarRE.MatchString(p.Var) || !pinCommitRE.MatchString(p.Commit) {
			return nil, fmt.Errorf("srcrev pin %s %s = %q: want a recipe name, SRCREV[_name] and a full commit id", p.Recipe, p.Var, p.Commit)
		}
		w.set(override(c, p.Var, "pn-"+p.Recipe), "=", p.Commit)
	}
	seen := map[string]bool{}
	var entries []string
	for _, m := range mirrors {
		if !gitURLRE.MatchString(m.FetchURL) || !mirrorDirRE.MatchString(m.Mirror) {
			return nil, fmt.Errorf("git premirror %s -> %s: want git://host/path and an absolute directory of plain characters", m.FetchURL, m.Mirror)
		}
		e := m.FetchURL + " git://" + m.Mirror + ";protocol=file"
		if !seen[e] {
			seen[e] = true
			entries = append(entries, e)
		}
	}
	sort.Strings(entries)
	if len(entries) > 0 {
		w.blank()
		w.comment("Bare mirrors of the pinned repositories ([mirrors] git_dir), tried first.")
		w.setList(override(c, "PREMIRRORS", "prepend"), "=", entries, " \\n")
	}
	return w.bytes(SrcrevConfFile)
}

// WriteSrcrev writes SrcrevConfFile into the build dir if its bytes
// changed.
func WriteSrcrev(c *config.Config, pins []SrcrevPin, mirrors []GitPremirror) (bool, error) {
	b, err := SrcrevConf(c, pins, mirrors)
	if err != nil {
		return false, err
	}
	p := filepath.Join(c.BuildDir(), filepath.FromSlash(SrcrevConfFile))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return false, fmt.Errorf("create conf dir: %w", err)
	}
	return atomicfile.WriteIfChanged(p, b, 0o644)
}
