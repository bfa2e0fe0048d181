package config

import (
	"strings"
	"testing"
)

func TestValidateSrcrev(t *testing.T) {
	commit := strings.Repeat("0a", 20)
	tests := []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"profile", func(c *Config) {}, nil},
		{"good", func(c *Config) {
			c.Srcrev = map[string]string{"xen": commit, "linux-yocto-dev:machine": commit}
			c.Mirrors.GitDir = "/srv/git"
		}, nil},
		{"bad", func(c *Config) {
			c.Srcrev = map[string]string{"xen": "master", "Bad Name": commit, "idl": commit[:12]}
			c.Mirrors.GitDir = "/srv/my git"
		}, []string{"srcrev.xen: ", "full 40-digit", "srcrev.Bad Name: not a recipe name", "srcrev.idl: ", "mirrors.git_dir: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := profile()
			tt.edit(c)
			v := &validator{file: "xtbuild.toml"}
			v.validateSrcrev(c)
			msg := v.errs.Error()
			if len(tt.want) == 0 && len(v.errs) > 0 {
				t.Fatalf("unexpected errors:\n%s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
		})
	}
}
