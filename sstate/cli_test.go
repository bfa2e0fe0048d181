package sstate

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// sstate:publish reads paths.sstate and mirrors.sstate_publish; without a
// publish dir it is a usage error (exit 2).
func TestRunPublishFromConfig(t *testing.T) {
	work := t.TempDir()
	pub := filepath.Join(t.TempDir(), "shared")
	writeTree(t, filepath.Join(work, "sstate-cache"), objects(0, 2))
	for _, tc := range []struct {
		name, toml string
		code       int
		out        string
	}{
		{"unset", "[paths]\nsstate = \"sstate-cache\"\n", exitcode.Usage, ""},
		{"publish", "[paths]\nsstate = \"sstate-cache\"\n[mirrors]\nsstate_publish = \"" + pub + "\"\n", 0, "4 sstate files published"},
		{"again", "[paths]\nsstate = \"sstate-cache\"\n[mirrors]\nsstate_publish = \"" + pub + "\"\n", 0, "0 sstate files published (0 B), 4 already present"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("xtbuild.toml", []byte(tc.toml), work, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = RunPublish(context.Background(), c, &out, quiet)
			if code := exitcode.Of(err); (err == nil && tc.code != 0) || (err != nil && code != tc.code) {
				t.Fatalf("err %v (code %d), want code %d", err, code, tc.code)
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("output %q, want %q", out.String(), tc.out)
			}
		})
	}
}
