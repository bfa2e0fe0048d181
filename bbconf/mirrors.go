package bbconf

import (
	"strings"

	"github.com/xtbuild/xtbuild/config"
)

// mirrorLines writes the source, sstate and server settings.
func mirrorLines(w *writer, c *config.Config) {
	m := c.Mirrors
	used := m.Tarball != "" || m.OwnMirror != "" || len(m.Sources) > 0 || m.Offline ||
		m.GenerateTarballs || len(m.Sstate) > 0 || m.HashServe != "" || m.PRServ != ""
	if !used {
		return
	}
	w.comment("Mirrors and shared state")
	if m.Tarball != "" {
		w.setList(override(c, "PREMIRRORS", "prepend"), "=", mirrorMap(m.Tarball), " \\n")
	}
	if m.OwnMirror != "" {
		w.set("SOURCE_MIRROR_URL", "=", m.OwnMirror)
		w.set("INHERIT", "+=", "own-mirrors")
	}
	if len(m.Sources) > 0 {
		var entries []string
		for _, u := range m.Sources {
			entries = append(entries, mirrorMap(u)...)
		}
		w.setList(override(c, "MIRRORS", "append"), "=", entries, " \\n")
	}
	if m.GenerateTarballs {
		w.set("BB_GENERATE_MIRROR_TARBALLS", "=", "1")
	}
	if m.Offline {
		w.set("BB_NO_NETWORK", "=", "1")
	}
	if len(m.Sstate) > 0 {
		var entries []string
		for _, u := range m.Sstate {
			entries = append(entries, "file://.* "+strings.TrimSuffix(u, "/")+"/PATH")
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

// mirrorMap maps every fetcher scheme to a flat mirror URL, the layout a
// DL_DIR (and mirror:populate) has.
func mirrorMap(url string) []string {
	url = strings.TrimSuffix(url, "/") + "/"
	var out []string
	for _, scheme := range []string{"git", "gitsm", "ftp", "http", "https"} {
		out = append(out, scheme+"://.*/.* "+url)
	}
	return out
}
