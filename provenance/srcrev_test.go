package provenance

import (
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/layers"
)

// TestSrcrevMaterials: every source setupoe pinned in xtbuild.lock is a
// material of the provenance, by commit.
func TestSrcrevMaterials(t *testing.T) {
	c, err := config.Parse("", nil, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	lock := &layers.Lock{LayersHash: layers.LayersHash(c.Layers), Srcrevs: []layers.LockedSrcrev{
		{Recipe: "xen", URL: "git://xenbits.xen.org/xen.git", Branch: "stable-4.21", Commit: rev, From: "mirror"},
		{Recipe: "multi", Name: "ts", URL: "https://github.com/OpenXT/toolstack.git", Branch: "master", Commit: rev, From: "network"},
		{Recipe: "linux-foo", Commit: rev, From: "config"},
	}}
	if _, err := lock.Write(c.LockFile()); err != nil {
		t.Fatal(err)
	}
	deps, err := dependencies(c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	uri := map[string]string{}
	for _, d := range deps {
		got[d.GetName()] = d.GetDigest()["gitCommit"]
		uri[d.GetName()] = d.GetUri()
	}
	for _, name := range []string{"srcrev:xen", "srcrev:multi:ts", "srcrev:linux-foo"} {
		if got[name] != rev {
			t.Errorf("%s: commit %q, want %s (materials %v)", name, got[name], rev, got)
		}
	}
	if uri["srcrev:xen"] != "git+git://xenbits.xen.org/xen.git" {
		t.Errorf("xen uri %q", uri["srcrev:xen"])
	}
}
