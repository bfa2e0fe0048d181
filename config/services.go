package config

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// HashServ configures the hashserv target, which runs BitBake's own
// bin/bitbake-hashserv from the cloned bitbake: the hash equivalence
// server that workers share ([mirrors] hashserve points them at it).
type HashServ struct {
	Bind        string `toml:"bind" doc:"Address bitbake-hashserv listens on: HOST:PORT (an IP address or localhost) or unix:///abs/path. Only loopback addresses unless allow_remote is true."`
	Database    string `toml:"database" doc:"SQLite database file of the server (--database), relative to the config file's directory."`
	ReadOnly    bool   `toml:"read_only" doc:"--read-only: clients may query equivalent hashes but not report new ones (BitBake 1.50, hardknott, and later). For a server that workers must not write to."`
	Upstream    string `toml:"upstream" doc:"--upstream HOST:PORT: a server this one pulls hashes from when it has none (BitBake 1.50 and later)."`
	AllowRemote bool   `toml:"allow_remote" doc:"Allow a bind address other than loopback. The hash equivalence protocol has no authentication before BitBake 2.6 (and anonymous clients may read and report by default after): set it only on a trusted build network."`
}

// PRServ configures the prserv target, which runs BitBake's own
// bin/bitbake-prserv from the cloned bitbake: the PR server that workers
// share ([mirrors] prserv points them at it).
type PRServ struct {
	Bind        string `toml:"bind" doc:"IP:PORT bitbake-prserv listens on (--host, --port); a fixed port (BitBake names its pid file /tmp/PRServer_<ip>_<port>.pid). Only loopback addresses unless allow_remote is true."`
	Database    string `toml:"database" doc:"SQLite database file (--file), relative to the config file's directory; its log is written beside it (<database>.log)."`
	ReadOnly    bool   `toml:"read_only" doc:"--read-only: serve existing PR values, never allocate new ones (BitBake 2.0, kirkstone, and later)."`
	AllowRemote bool   `toml:"allow_remote" doc:"Allow a bind address other than loopback. The PR service has no authentication: set it only on a trusted build network."`
}

// bitbakeAtLeast says whether the release's BitBake is major.minor or newer.
func bitbakeAtLeast(r YoctoRelease, major, minor int) bool {
	maj, min, _ := strings.Cut(r.Bitbake, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return a > major || (a == major && b >= minor)
}

// IsLoopback says whether a bind host is loopback only: localhost or a
// loopback IP. An empty host (all addresses) or any other name is not.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// validateServices checks [hashserv], [prserv], mirrors.sstate_publish and
// the server lines bbconf writes against the release's BitBake. Call it
// from validate:
//
//	v.validateServices(c)
func (v *validator) validateServices(c *Config) {
	rel, _ := LookupRelease(c.Build.Release)
	if p := c.Mirrors.SstatePublish; p != "" {
		switch {
		case !filepath.IsAbs(p):
			v.add("mirrors.sstate_publish", "%q: must be an absolute path (a directory every worker reaches at the same place)", p)
		case strings.ContainsAny(p, " \t\\;"):
			v.add("mirrors.sstate_publish", "%q: the publish dir is also a file:// SSTATE_MIRRORS URL, which cannot hold spaces, backslashes or ';'", p)
		case filepath.Clean(p) == filepath.Clean(c.Abs(c.Paths.Sstate)):
			v.add("mirrors.sstate_publish", "%q is paths.sstate itself: publish into a shared directory", p)
		}
	}
	if c.Mirrors.HashServeUpstream != "" {
		if c.Mirrors.HashServe != "auto" {
			v.add("mirrors.hashserve_upstream", "BitBake reads BB_HASHSERVE_UPSTREAM only for its own local server (hashserve = \"auto\"), not with hashserve = %q", c.Mirrors.HashServe)
		}
		if rel.Bitbake != "" && !bitbakeAtLeast(rel, 1, 50) {
			v.add("mirrors.hashserve_upstream", "BitBake %s (%s) has no BB_HASHSERVE_UPSTREAM (1.50, hardknott, and later)", rel.Bitbake, rel.Name)
		}
	}

	h := c.HashServ
	if h.Bind != "" {
		if path, ok := strings.CutPrefix(h.Bind, "unix://"); ok {
			if !filepath.IsAbs(path) {
				v.add("hashserv.bind", "%q: a unix socket needs an absolute path (unix:///path)", h.Bind)
			}
		} else {
			v.bindAddr("hashserv.bind", h.Bind, h.AllowRemote, false)
		}
	}
	v.relPath("hashserv.database", h.Database, h.Bind != "")
	if h.Upstream != "" {
		if _, _, err := net.SplitHostPort(h.Upstream); err != nil && !strings.HasPrefix(h.Upstream, "unix://") && !strings.HasPrefix(h.Upstream, "ws://") && !strings.HasPrefix(h.Upstream, "wss://") {
			v.add("hashserv.upstream", "%q is not HOST:PORT or unix:///path", h.Upstream)
		}
	}
	if rel.Bitbake != "" && !bitbakeAtLeast(rel, 1, 50) {
		if h.ReadOnly {
			v.add("hashserv.read_only", "bitbake-hashserv of BitBake %s (%s) has no --read-only (1.50, hardknott, and later)", rel.Bitbake, rel.Name)
		}
		if h.Upstream != "" {
			v.add("hashserv.upstream", "bitbake-hashserv of BitBake %s (%s) has no --upstream (1.50, hardknott, and later)", rel.Bitbake, rel.Name)
		}
	}

	p := c.PRServ
	if p.Bind != "" {
		v.bindAddr("prserv.bind", p.Bind, p.AllowRemote, true)
	}
	v.relPath("prserv.database", p.Database, p.Bind != "")
	if p.ReadOnly && rel.Bitbake != "" && !bitbakeAtLeast(rel, 2, 0) {
		v.add("prserv.read_only", "bitbake-prserv of BitBake %s (%s) has no --read-only (2.0, kirkstone, and later)", rel.Bitbake, rel.Name)
	}
}

// bindAddr checks a HOST:PORT listen address: a fixed port, loopback
// unless allowRemote; ipOnly asks for an IP address (or localhost).
func (v *validator) bindAddr(key, addr string, allowRemote, ipOnly bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "%q is not HOST:PORT: %v", addr, err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add(key, "%q: the port must be a number from 1 to 65535 (workers need a fixed port)", addr)
	}
	if ipOnly && host != "localhost" && net.ParseIP(host) == nil {
		v.add(key, "%q: the host must be an IP address or localhost", addr)
	}
	if !allowRemote && !IsLoopback(host) {
		v.add(key, "%q listens beyond this host: set allow_remote = true in the same section to serve other workers (the service has no authentication; see docs/services.md)", addr)
	}
}
