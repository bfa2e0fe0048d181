package recipes

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ModuleLicense is one license file of a vendored module, as the recipe's
// LIC_FILES_CHKSUM names it.
type ModuleLicense struct {
	Module string // module path, e.g. golang.org/x/sys
	// Path is the file relative to the tools module root, slash-separated:
	// vendor/<module>/LICENSE.
	Path string
	MD5  string // md5 of the file, as BitBake checks it
	SPDX string // license of the file, e.g. BSD-3-Clause
}

var md5RE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (l ModuleLicense) validate() error {
	p := path.Clean(l.Path)
	if p != l.Path || !fs.ValidPath(p) || !strings.HasPrefix(p, "vendor/") || strings.ContainsAny(p, "; \t\"'") {
		return fmt.Errorf("vendored license file %q of %s: want vendor/<module>/<file>", l.Path, l.Module)
	}
	if !md5RE.MatchString(l.MD5) {
		return fmt.Errorf("vendored license file %s: md5 %q is not 32 hex digits", l.Path, l.MD5)
	}
	if !spdxRE.MatchString(l.SPDX) || strings.ContainsAny(l.SPDX, " ()") {
		return fmt.Errorf("vendored license file %s: %q is not one SPDX identifier", l.Path, l.SPDX)
	}
	return nil
}

// licenseFileRE matches the names that count as a module's license.
// go mod vendor copies these (with NOTICE, PATENTS, AUTHORS, ...) from a
// module's root into vendor/ next to the packages it vendors.
var licenseFileRE = regexp.MustCompile(`^(?i)(LICEN[CS]E|COPYING)([.-][A-Za-z0-9.-]+)?$`)

// VendoredLicenses finds the license files of every module listed in
// vendor/modules.txt below moduleRoot and classifies each. A module without
// a license file, or with one that is not recognised, is an error naming
// the module: the recipe's LICENSE must not be guessed.
func VendoredLicenses(moduleRoot string) ([]ModuleLicense, error) {
	mods, err := vendoredModules(filepath.Join(moduleRoot, "vendor", "modules.txt"))
	if err != nil {
		return nil, err
	}
	var out []ModuleLicense
	for _, m := range mods {
		dir := filepath.Join(moduleRoot, "vendor", filepath.FromSlash(m))
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("vendored module %s: %w", m, err)
		}
		found := 0
		for _, e := range ents {
			if !e.Type().IsRegular() || !licenseFileRE.MatchString(e.Name()) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("vendored module %s: %w", m, err)
			}
			id := classifyLicense(b)
			if id == "" {
				return nil, fmt.Errorf("vendored module %s: cannot tell the license of %s (known: %s); the recipe's LICENSE would be wrong", m, e.Name(), strings.Join(knownLicenses(), ", "))
			}
			sum := md5.Sum(b)
			out = append(out, ModuleLicense{Module: m, Path: "vendor/" + m + "/" + e.Name(), MD5: hex.EncodeToString(sum[:]), SPDX: id})
			found++
		}
		if found == 0 {
			return nil, fmt.Errorf("vendored module %s has no license file in %s", m, dir)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// vendoredModules reads the "# module version" lines of modules.txt.
func vendoredModules(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read vendored module list: %w", err)
	}
	var mods []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// "# path version", "# path version => replacement", or for a
		// replace without version "# path => replacement"; "## explicit"
		// lines follow.
		if len(f) >= 3 && f[0] == "#" && !seen[f[1]] {
			seen[f[1]] = true
			mods = append(mods, f[1])
		}
	}
	sort.Strings(mods)
	return mods, nil
}

// licenseMarks are phrases each license's text carries; the first match
// wins, so more specific entries come first.
var licenseMarks = []struct {
	id  string
	all []string
	not []string
}{
	{"Apache-2.0", []string{"apache license", "version 2.0"}, nil},
	{"MPL-2.0", []string{"mozilla public license", "version 2.0"}, nil},
	{"BSD-3-Clause", []string{"redistribution and use in source and binary forms", "neither the name"}, nil},
	{"BSD-2-Clause", []string{"redistribution and use in source and binary forms"}, []string{"neither the name"}},
	{"ISC", []string{"permission to use, copy, modify, and/or distribute this software for any purpose"}, nil},
	{"MIT", []string{"permission is hereby granted, free of charge"}, nil},
}

func knownLicenses() []string {
	ids := make([]string, len(licenseMarks))
	for i, m := range licenseMarks {
		ids[i] = m.id
	}
	return ids
}

// classifyLicense names the license of a license file's text, or "".
func classifyLicense(b []byte) string {
	text := strings.ToLower(strings.Join(strings.Fields(string(b)), " "))
next:
	for _, m := range licenseMarks {
		for _, s := range m.all {
			if !strings.Contains(text, s) {
				continue next
			}
		}
		for _, s := range m.not {
			if strings.Contains(text, s) {
				continue next
			}
		}
		return m.id
	}
	return ""
}

// licenseExpr is the recipe's LICENSE: the project's own, then each
// vendored module's license once, sorted.
func licenseExpr(own string, ls []ModuleLicense) string {
	seen := map[string]bool{own: true}
	var ids []string
	for _, l := range ls {
		if !seen[l.SPDX] {
			seen[l.SPDX] = true
			ids = append(ids, l.SPDX)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return own
	}
	if strings.ContainsAny(own, " ") {
		own = "(" + own + ")"
	}
	return own + " & " + strings.Join(ids, " & ")
}
