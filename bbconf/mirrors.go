package bbconf

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/config"
)

// mirrorSchemes are the fetcher schemes sent to a flat source mirror: the
// layout of a DL_DIR and of mirror:populate, where tarballs sit under their
// own name and git/hg/svn/bzr sources as the mirror tarballs BitBake writes
// with BB_GENERATE_MIRROR_TARBALLS (git2_<host>.<path>.tar.gz, ...).
var mirrorSchemes = []string{"git", "gitsm", "hg", "svn", "bzr", "ftp", "http", "https"}

// mirrorLines writes the source, sstate and server settings:
//
//   - PREMIRRORS, tried before upstream: the local mirror directory
//     (paths.mirror: mirror:populate and the ACM drop-ins, which no fetch
//     from upstream can get), then mirrors.tarball (OE_TARBALL_MIRROR);
//   - SOURCE_MIRROR_URL with own-mirrors for mirrors.own_mirror (the class
//     prepends its own PREMIRRORS entries, so they are tried first);
//   - MIRRORS, tried after upstream: mirrors.sources;
//   - offline: only premirrors (BB_FETCH_PREMIRRORONLY) and no network
//     (BB_NO_NETWORK), or, when a premirror or sstate mirror is reached
//     over the network (a LAN server for an air-gapped site), only those
//     hosts (BB_ALLOWED_NETWORKS);
//   - SSTATE_MIRRORS, hash equivalence and the PR server.
func mirrorLines(w *writer, c *config.Config) {
	m := c.Mirrors
	w.comment("Source mirrors: the local mirror (mirror:populate, ACM drop-ins) first, then upstream.")
	local := c.Abs(c.Paths.Mirror)
	if strings.ContainsAny(local, " \t\n\\") {
		w.fail("paths.mirror %q: a mirror path with spaces or backslashes cannot be a BitBake mirror URL", local)
	}
	pre := mirrorMap("file://" + topdirRel(c, local))
	if m.Tarball != "" {
		pre = append(pre, mirrorMap(m.Tarball)...)
	}
	w.setList(override(c, "PREMIRRORS", "prepend"), "=", pre, " \\n")
	if m.OwnMirror != "" {
		w.set("SOURCE_MIRROR_URL", "=", m.OwnMirror)
		w.set("INHERIT", "+=", "own-mirrors")
	}
	if len(m.Sources) > 0 {
		if m.Offline {
			w.comment("mirrors.sources are not written: offline builds fetch from premirrors only.")
		} else {
			var entries []string
			for _, u := range m.Sources {
				entries = append(entries, mirrorMap(u)...)
			}
			w.setList(override(c, "MIRRORS", "append"), "=", entries, " \\n")
		}
	}
	if m.GenerateTarballs {
		w.set("BB_GENERATE_MIRROR_TARBALLS", "=", "1")
	}
	if m.Offline {
		w.set("BB_FETCH_PREMIRRORONLY", "=", "1")
		var remote []string
		for _, u := range []string{m.Tarball, m.OwnMirror} {
			remote = append(remote, networkHost(u))
		}
		for _, u := range m.Sstate {
			remote = append(remote, networkHost(u))
		}
		if hosts := uniqueSorted(remote); len(hosts) > 0 {
			w.set("BB_ALLOWED_NETWORKS", "=", strings.Join(hosts, " "))
		} else {
			w.set("BB_NO_NETWORK", "=", "1")
		}
	}
	if len(m.Sstate) > 0 {
		var entries []string
		for _, u := range m.Sstate {
			entries = append(entries, sstateMirror(u))
		}
		w.setList("SSTATE_MIRRORS", "=", entries, " \\n")
	}
	if m.HashServe != "" {
		w.set("BB_HASHSERVE", "=", m.HashServe)
		w.set("BB_SIGNATURE_HANDLER", "=", "OEEquivHash")
		if m.HashServeUpstream != "" {
			w.set("BB_HASHSERVE_UPSTREAM", "=", m.HashServeUpstream)
		}
	}
	if m.PRServ != "" {
		w.set("PRSERV_HOST", "=", m.PRServ)
	}
	w.blank()
}

// mirrorMap maps every fetcher scheme to a flat mirror URL.
func mirrorMap(u string) []string {
	u = strings.TrimSuffix(u, "/") + "/"
	out := make([]string, 0, len(mirrorSchemes))
	for _, scheme := range mirrorSchemes {
		out = append(out, scheme+"://.*/.* "+u)
	}
	return out
}

// sstateMirror maps every sstate object to u/PATH. Over http(s) the object
// must land under its PATH subdirectory of SSTATE_DIR, which BitBake only
// does with downloadfilename. A URL that already places PATH is kept.
func sstateMirror(u string) string {
	if !strings.Contains(u, "PATH") {
		u = strings.TrimSuffix(u, "/") + "/PATH"
		if !strings.HasPrefix(u, "file://") {
			u += ";downloadfilename=PATH"
		}
	}
	return "file://.* " + u
}

// networkHost is the host name of a mirror reached over the network, ""
// for local (file://) or empty URLs. BB_ALLOWED_NETWORKS matches host names
// without ports.
func networkHost(u string) string {
	if u == "" || strings.HasPrefix(u, "file://") {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.ToLower(p.Hostname())
}

func uniqueSorted(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// fail records the first error of the generation.
func (w *writer) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf(format, args...)
	}
}
