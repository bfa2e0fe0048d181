package config

import (
	"regexp"
	"sort"
	"strings"
)

var (
	srcrevKeyRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*(:[A-Za-z0-9_.-]+)?$`)
	srcrevCommitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// validateSrcrev checks [srcrev] (recipe or recipe:name = full commit id)
// and [mirrors] git_dir, whose path becomes part of PREMIRRORS lines.
func (v *validator) validateSrcrev(c *Config) {
	keys := make([]string, 0, len(c.Srcrev))
	for k := range c.Srcrev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !srcrevKeyRE.MatchString(k) {
			v.add("srcrev."+k, "not a recipe name (or recipe:name for a named SRC_URI entry)")
		}
		if !srcrevCommitRE.MatchString(c.Srcrev[k]) {
			v.add("srcrev."+k, "%q: want a full 40-digit lower-case commit id (a branch or tag would follow upstream again)", c.Srcrev[k])
		}
	}
	if strings.ContainsAny(c.Mirrors.GitDir, " \t\\;\"'") {
		v.add("mirrors.git_dir", "%q: the directory becomes part of PREMIRRORS URLs, which cannot hold spaces, quotes, ';' or backslashes", c.Mirrors.GitDir)
	}
}
