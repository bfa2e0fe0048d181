package config

import (
	"fmt"
	"net/url"
	"strings"
)

// validateMirrorConfig checks what the source mirror and its local.conf
// lines need beyond validateMirrors: URL schemes BitBake's mirror code
// accepts, absolute file:// paths, a mirror directory usable in a file://
// URL, and [[acm]] entries a person can act on. Call it from validate:
//
//	v.validateMirrorConfig(c)
func (v *validator) validateMirrorConfig(c *Config) {
	m := c.Mirrors
	if strings.ContainsAny(c.Paths.Mirror, " \t\\") {
		v.add("paths.mirror", "%q: the mirror directory becomes a file:// premirror URL, which cannot hold spaces or backslashes", c.Paths.Mirror)
	}
	sourceSchemes := []string{"file", "http", "https", "ftp"}
	v.mirrorURL("mirrors.tarball", m.Tarball, sourceSchemes)
	v.mirrorURL("mirrors.own_mirror", m.OwnMirror, sourceSchemes)
	for i, u := range m.Sources {
		v.mirrorURL(fmt.Sprintf("mirrors.sources[%d]", i), u, sourceSchemes)
	}
	for i, u := range m.Sstate {
		v.mirrorURL(fmt.Sprintf("mirrors.sstate[%d]", i), u, []string{"file", "http", "https"})
	}
	for i, a := range c.ACMs {
		key := fmt.Sprintf("acm[%d]", i)
		if a.Name == "SHA256SUMS" || strings.HasPrefix(a.Name, ".") {
			v.add(key+".name", "%q is reserved for the mirror's own files", a.Name)
		}
		if strings.TrimSpace(a.Source) == "" {
			v.add(key+".source", "missing: say where a person downloads %s (the licence page URL)", a.Name)
		} else if u, err := url.Parse(a.Source); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(key+".source", "%q is not an http(s) URL", a.Source)
		}
	}
}

// mirrorURL checks one mirror URL (empty is allowed: not configured).
func (v *validator) mirrorURL(key, raw string, schemes []string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.add(key, "%q is not a URL: %v", raw, err)
		return
	}
	if !contains(schemes, u.Scheme) {
		v.add(key, "%q: scheme must be one of %s", raw, strings.Join(schemes, ", "))
		return
	}
	if u.Scheme == "file" {
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			v.add(key, "%q: a file:// mirror needs an absolute path (file:///path)", raw)
		}
	} else if u.Host == "" {
		v.add(key, "%q has no host", raw)
	}
	// BitBake splits mirror entries on ';' (URL parameters) and whitespace.
	if strings.Contains(strings.TrimSuffix(raw, ";downloadfilename=PATH"), ";") {
		v.add(key, "%q: ';' starts BitBake URL parameters and cannot be part of a mirror URL", raw)
	}
}
