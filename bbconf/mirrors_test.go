package bbconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/bbsyntax"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/testenv"
)

// TestMirrorLines golden-tests the mirror section of local.conf for the
// settings that change it. Golden files: testdata/mirrors/<name>.conf
// (go test ./bbconf -run TestMirrorLines -update).
func TestMirrorLines(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // lines that must be present (beyond the golden file)
		not  []string // substrings that must be absent
	}{
		{"profile", "", []string{`PREMIRRORS_prepend = " \`, "https://.*/.* file:///srv/xtbuild/source-mirror/ \\n \\"},
			[]string{"BB_NO_NETWORK", "MIRRORS_append", "SSTATE_MIRRORS", ":prepend"}},
		{"tarball", `
[mirrors]
tarball = "http://mirror.example.org/tarballs/"
`, []string{"git://.*/.* http://mirror.example.org/tarballs/ \\n \\"}, nil},
		{"mirror-in-topdir", `
[paths]
mirror = "build/mirror"
`, []string{"http://.*/.* file://${TOPDIR}/mirror/ \\n \\"}, nil},
		{"own-mirror-and-sources", `
[mirrors]
own_mirror = "https://sources.example.org/yocto"
sources = ["http://fallback.example.org/a", "file:///nfs/oe/downloads"]
generate_tarballs = true
`, []string{`SOURCE_MIRROR_URL = "https://sources.example.org/yocto"`, `INHERIT += "own-mirrors"`,
			`MIRRORS_append = " \`, `BB_GENERATE_MIRROR_TARBALLS = "1"`}, []string{"BB_NO_NETWORK"}},
		{"offline-airgapped", `
[mirrors]
offline = true
tarball = "file:///media/usb/mirror"
sources = ["http://never.example.org/"]
sstate = ["file:///media/usb/sstate"]
`, []string{`BB_FETCH_PREMIRRORONLY = "1"`, `BB_NO_NETWORK = "1"`, "file://.* file:///media/usb/sstate/PATH \\n \\"},
			[]string{"MIRRORS_append", "never.example.org", "BB_ALLOWED_NETWORKS"}},
		{"offline-lan-servers", `
[mirrors]
offline = true
tarball = "http://Mirror.lan:8000/"
own_mirror = "https://sources.lan/yocto"
sstate = ["http://sstate.lan/scarthgap", "http://mirror.lan:8000/sstate", "file:///srv/sstate"]
`, []string{`BB_FETCH_PREMIRRORONLY = "1"`, `BB_ALLOWED_NETWORKS = "mirror.lan sources.lan sstate.lan"`,
			"file://.* http://sstate.lan/scarthgap/PATH;downloadfilename=PATH \\n \\"},
			[]string{"BB_NO_NETWORK"}},
		{"sstate-and-servers", `
[mirrors]
sstate = ["file:///srv/sstate/", "https://sstate.example.org/scarthgap", "http://x.example.org/sstate/PATH;downloadfilename=PATH"]
hashserve = "hashserv.example.org:8686"
prserv = "localhost:0"
`, []string{"file://.* file:///srv/sstate/PATH \\n \\",
			"file://.* https://sstate.example.org/scarthgap/PATH;downloadfilename=PATH \\n \\",
			"file://.* http://x.example.org/sstate/PATH;downloadfilename=PATH \\n \\",
			`BB_SIGNATURE_HANDLER = "OEEquivHash"`}, nil},
		// BB_HASHSERVE_UPSTREAM feeds BitBake's own local server only
		// (hashserve = "auto"), from 1.50 on.
		{"auto-hashserve-upstream", `
[build]
release = "scarthgap"
[mirrors]
hashserve = "auto"
hashserve_upstream = "wss://hashserv.yoctoproject.org/ws"
`, []string{`BB_HASHSERVE = "auto"`, `BB_HASHSERVE_UPSTREAM = "wss://hashserv.yoctoproject.org/ws"`, `BB_SIGNATURE_HANDLER = "OEEquivHash"`}, nil},
		{"scarthgap", `
[build]
release = "scarthgap"
[mirrors]
tarball = "file:///srv/mirror"
sources = ["http://fallback.example.org/"]
`, []string{`PREMIRRORS:prepend = " \`, `MIRRORS:append = " \`}, []string{"_prepend", "_append"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.toml != "" {
				file = "xtbuild.toml"
			}
			c, err := config.Parse(file, []byte(tt.toml), "/srv/xtbuild", nil)
			if err != nil {
				t.Fatal(err)
			}
			w := &writer{}
			mirrorLines(w, c)
			out, err := w.bytes("mirror lines")
			if err != nil {
				t.Fatal(err)
			}
			if errs := bbsyntax.Check(string(out), bbsyntax.Conf); len(errs) > 0 {
				t.Errorf("not valid BitBake: %v", errs)
			}
			golden(t, filepath.Join("mirrors", tt.name+".conf"), out)
			lines := "\n" + string(out)
			for _, want := range tt.want {
				if !strings.Contains(lines, "\n"+want+"\n") && !strings.Contains(lines, "\n    "+want+"\n") {
					t.Errorf("missing line %q", want)
				}
			}
			for _, not := range tt.not {
				if strings.Contains(lines, not) {
					t.Errorf("unexpected %q", not)
				}
			}
			// The whole local.conf still renders and checks.
			if _, err := LocalConf(c, "n"); err != nil {
				t.Errorf("local.conf: %v", err)
			}
		})
	}
}

// Every mirror entry is "<scheme regex> <url>" and every scheme BitBake
// fetches tarballs or mirror tarballs with is covered, in both mirrors.
func TestMirrorMapShape(t *testing.T) {
	entries := mirrorMap("http://m.example.org/x")
	if len(entries) != len(mirrorSchemes) {
		t.Fatalf("%d entries", len(entries))
	}
	for i, e := range entries {
		f := strings.Fields(e)
		if len(f) != 2 || f[0] != mirrorSchemes[i]+"://.*/.*" || f[1] != "http://m.example.org/x/" {
			t.Errorf("entry %q", e)
		}
	}
	for _, s := range []string{"git", "gitsm", "http", "https", "ftp"} {
		found := false
		for _, m := range mirrorSchemes {
			found = found || m == s
		}
		if !found {
			t.Errorf("scheme %s not mirrored", s)
		}
	}
}

func TestMirrorPathWithSpaceRefused(t *testing.T) {
	c, err := config.Parse("", nil, "/srv/my builds", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LocalConf(c, "n"); err == nil || !strings.Contains(err.Error(), "paths.mirror") {
		t.Errorf("a mirror path with a space was written: %v", err)
	}
}

// TestRealBitbakeResolvesMirrors asks real BitBake's fetcher (a checkout
// named by BITBAKE_DIR, 2.x for the colon syntax; not vendored, so CI skips
// this) which premirror URLs it tries for typical sources under the golden
// tarball.conf: the local mirror first, by flat file name, the git source
// as the git2_ mirror tarball mirror:populate copies.
func TestRealBitbakeResolvesMirrors(t *testing.T) {
	dir := testenv.NeedEnv(t, "BITBAKE_DIR", "a real BitBake checkout")
	testenv.LookPath(t, "python3", "python3")
	cmd := exec.Command("python3", "testdata/mirrors/resolve.py", "testdata/mirrors/tarball.conf",
		"https://downloads.xenproject.org/release/xen/4.18.0/xen-4.18.0.tar.gz",
		"git://github.com/OpenXT/xenclient-oe.git;protocol=https;branch=master",
		"https://openxt.ainfosec.com/mirror/openxt/4th_gen_i5_i7_SINIT_75.zip")
	cmd.Env = append(os.Environ(), "BITBAKE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("resolve.py: %v\n%s", err, out)
	}
	want := `https://downloads.xenproject.org/release/xen/4.18.0/xen-4.18.0.tar.gz
    file:///srv/xtbuild/source-mirror/xen-4.18.0.tar.gz
    http://mirror.example.org/tarballs/xen-4.18.0.tar.gz
git://github.com/OpenXT/xenclient-oe.git;protocol=https;branch=master
    file:///srv/xtbuild/source-mirror/git2_github.com.OpenXT.xenclient-oe.git.tar.gz
    http://mirror.example.org/tarballs/git2_github.com.OpenXT.xenclient-oe.git.tar.gz
https://openxt.ainfosec.com/mirror/openxt/4th_gen_i5_i7_SINIT_75.zip
    file:///srv/xtbuild/source-mirror/4th_gen_i5_i7_SINIT_75.zip
    http://mirror.example.org/tarballs/4th_gen_i5_i7_SINIT_75.zip
`
	if string(out) != want {
		t.Errorf("BitBake tries\n%s\nwant\n%s", out, want)
	}
}
