package config

import (
	"strings"
	"testing"
)

func TestValidateServices(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		want []string // "key: fragment"; nil: no error
	}{
		{"profile", func(c *Config) {}, nil},
		{"good scarthgap", func(c *Config) {
			c.Build.Release = "scarthgap"
			c.Mirrors.SstatePublish = "/srv/sstate-shared"
			c.HashServ = HashServ{Bind: "[::1]:8686", Database: "/var/lib/hashserv.db", ReadOnly: true, Upstream: "hashserv.lan:8686"}
			c.PRServ = PRServ{Bind: "localhost:8585", Database: "prserv.sqlite3", ReadOnly: true}
		}, nil},
		{"remote allowed", func(c *Config) {
			c.HashServ = HashServ{Bind: "0.0.0.0:8686", Database: "h.db", AllowRemote: true}
			c.PRServ = PRServ{Bind: "192.168.1.5:8585", Database: "p.db", AllowRemote: true}
		}, nil},
		{"unix socket", func(c *Config) { c.HashServ.Bind = "unix:///run/hashserv.sock" }, nil},
		{"remote refused", func(c *Config) {
			c.HashServ.Bind = ":8686"
			c.PRServ.Bind = "10.0.0.1:8585"
		}, []string{"hashserv.bind: \":8686\" listens beyond this host", "prserv.bind: \"10.0.0.1:8585\" listens beyond this host"}},
		{"bad addresses", func(c *Config) {
			c.Build.Release = "scarthgap"
			c.HashServ.Bind = "unix://relative.sock"
			c.HashServ.Upstream = "nohostport"
			c.PRServ.Bind = "build.lan:0"
			c.PRServ.Database = ""
		}, []string{"hashserv.bind: \"unix://relative.sock\": a unix socket needs an absolute path", "hashserv.upstream: ",
			"prserv.bind: \"build.lan:0\": the port must be", "prserv.bind: \"build.lan:0\": the host must be an IP", "prserv.bind: \"build.lan:0\" listens beyond", "prserv.database: missing"}},
		{"dunfell has no read-only or upstream", func(c *Config) {
			c.Build.Release = "dunfell"
			c.HashServ.ReadOnly = true
			c.HashServ.Upstream = "h.lan:8686"
			c.PRServ.ReadOnly = true
			c.Mirrors.HashServe = "auto"
			c.Mirrors.HashServeUpstream = "h.lan:8686"
		}, []string{"hashserv.read_only: bitbake-hashserv of BitBake 1.46", "hashserv.upstream: bitbake-hashserv of BitBake 1.46",
			"prserv.read_only: bitbake-prserv of BitBake 1.46", "mirrors.hashserve_upstream: BitBake 1.46 (dunfell) has no BB_HASHSERVE_UPSTREAM"}},
		{"upstream needs auto", func(c *Config) {
			c.Build.Release = "kirkstone"
			c.Mirrors.HashServe = "hashserv.lan:8686"
			c.Mirrors.HashServeUpstream = "h.lan:8686"
		}, []string{"mirrors.hashserve_upstream: BitBake reads BB_HASHSERVE_UPSTREAM only for its own local server"}},
		{"publish dir", func(c *Config) { c.Mirrors.SstatePublish = "shared/sstate" }, []string{"mirrors.sstate_publish: \"shared/sstate\": must be an absolute path"}},
		{"publish dir with space", func(c *Config) { c.Mirrors.SstatePublish = "/srv/my sstate" }, []string{"mirrors.sstate_publish: \"/srv/my sstate\": the publish dir is also a file:// SSTATE_MIRRORS URL, which cannot hold spaces"}},
		{"publish dir is SSTATE_DIR", func(c *Config) {
			c.Paths.Sstate = "/srv/sstate"
			c.Mirrors.SstatePublish = "/srv/sstate/"
		}, []string{"is paths.sstate itself"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := profile()
			tt.edit(c)
			v := &validator{file: "xtbuild.toml"}
			v.validateServices(c)
			msg := v.errs.Error()
			if tt.want == nil && len(v.errs) > 0 {
				t.Fatalf("unexpected errors:\n%s", msg)
			}
			if tt.want != nil && len(v.errs) != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%s", len(v.errs), len(tt.want), msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
		})
	}
}
