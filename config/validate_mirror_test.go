package config

import (
	"strings"
	"testing"
)

func TestValidateMirrorConfig(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		edit func(c *Config)
		want []string // "key: fragment"
	}{
		{"profile", func(c *Config) {}, nil},
		{"good", func(c *Config) {
			c.Mirrors.Tarball = "http://mirror.lan:8000/"
			c.Mirrors.OwnMirror = "file:///srv/mirror"
			c.Mirrors.Sources = []string{"ftp://ftp.example.org/pub", "https://x.example.org"}
			c.Mirrors.Sstate = []string{"file:///srv/sstate", "http://s.lan/sstate/PATH;downloadfilename=PATH"}
			c.ACMs = []ACM{{Name: "a.zip", SHA256: good, Source: "https://www.intel.com/txt"}}
		}, nil},
		{"bad", func(c *Config) {
			c.Paths.Mirror = "my mirror"
			c.Mirrors.Tarball = "mirror.example.org/tarballs"
			c.Mirrors.OwnMirror = "file://relative/path"
			c.Mirrors.Sources = []string{"gopher://x.org/", "http:///nohost"}
			c.Mirrors.Sstate = []string{"ftp://x.org/sstate", "http://x.org/a;b"}
			c.ACMs = []ACM{
				{Name: "SHA256SUMS", SHA256: good, Source: "https://x.org"},
				{Name: "b.zip", SHA256: good},
				{Name: "c.zip", SHA256: good, Source: "intel.com"},
			}
		}, []string{
			"paths.mirror: ", "mirrors.tarball: ", "mirrors.own_mirror: ", "absolute path",
			"mirrors.sources[0]: ", "mirrors.sources[1]: ", "no host",
			"mirrors.sstate[0]: ", "mirrors.sstate[1]: ", "';'",
			"acm[0].name: ", "acm[1].source: missing", "acm[2].source: ",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := profile()
			tt.edit(c)
			v := &validator{file: "xtbuild.toml"}
			v.validateMirrorConfig(c)
			msg := v.errs.Error()
			if len(tt.want) == 0 && len(v.errs) > 0 {
				t.Fatalf("unexpected errors:\n%s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
			if tt.name == "bad" && len(v.errs) != 10 {
				t.Errorf("%d errors, want 10:\n%s", len(v.errs), msg)
			}
		})
	}
}
