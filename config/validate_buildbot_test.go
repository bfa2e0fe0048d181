package config

import (
	"strings"
	"testing"
)

func TestValidateBuildbot(t *testing.T) {
	tests := []struct {
		name string
		edit func(b *Buildbot)
		want []string
	}{
		{"profile", func(b *Buildbot) {}, nil},
		{"fan-out on, IPv6, prebuilt xtbuild", func(b *Buildbot) {
			b.Fanout, b.Listen, b.Xtbuild = "on", "::1", "/usr/local/bin/xtbuild"
		}, nil},
		{"host name", func(b *Buildbot) { b.Listen = "bb-master.lan" }, nil},
		{"bad values", func(b *Buildbot) {
			b.Fanout, b.Listen, b.Xtbuild = "yes", "0.0.0.0 extra", "xtbuild"
		}, []string{`buildbot.fanout: "yes": want auto, on or off`, `buildbot.listen: "0.0.0.0 extra" is not an IP address`,
			`buildbot.xtbuild: "xtbuild": want the absolute path`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := profile()
			tt.edit(&c.Buildbot)
			v := &validator{file: "xtbuild.toml"}
			v.validateBuildbot(c.Buildbot)
			msg := v.errs.Error()
			if len(v.errs) != len(tt.want) {
				t.Fatalf("%d errors, want %d:\n%s", len(v.errs), len(tt.want), msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
		})
	}
}
