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

func TestSrcrevConf(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	pins := []SrcrevPin{{"xen", "SRCREV", rev}, {"multi", "SRCREV_ts", rev}}
	mirrors := []GitPremirror{
		{"git://github.com/OpenXT/idl.git", "/srv/git/idl.git"},
		{"git://github.com/OpenXT/idl.git", "/srv/git/idl.git"}, // two recipes, one repository
		{"git://xenbits.xen.org/xen.git", "/srv/git/xen.git"},
	}
	for _, tc := range []struct {
		release string
		want    []string
	}{
		{"dunfell", []string{`SRCREV_pn-xen = "` + rev + `"`, `SRCREV_ts_pn-multi = "` + rev + `"`, `PREMIRRORS_prepend = " \`}},
		{"scarthgap", []string{`SRCREV:pn-xen = "` + rev + `"`, `SRCREV_ts:pn-multi = "` + rev + `"`, `PREMIRRORS:prepend = " \`}},
	} {
		t.Run(tc.release, func(t *testing.T) {
			c, err := config.Parse("xtbuild.toml", []byte("[build]\nrelease = \""+tc.release+"\"\n"), "/srv/xtbuild", nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := SrcrevConf(c, pins, mirrors)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			want := append(tc.want,
				"    git://github.com/OpenXT/idl.git git:///srv/git/idl.git;protocol=file \\n \\\n",
				"    git://xenbits.xen.org/xen.git git:///srv/git/xen.git;protocol=file \\n \\\n")
			for _, w := range want {
				if !strings.Contains(s, w) {
					t.Errorf("missing %q in:\n%s", w, s)
				}
			}
			if n := strings.Count(s, "idl.git git://"); n != 1 {
				t.Errorf("idl mirror written %d times", n)
			}
			if errs := bbsyntax.Check(s, bbsyntax.Conf); len(errs) > 0 {
				t.Errorf("not BitBake syntax: %v", errs)
			}
			if errs := bbsyntax.OldOverrideSyntax(s, bbsyntax.Conf); c.ReleaseInfo().ColonOverrides && len(errs) > 0 {
				t.Errorf("old override syntax on %s: %v", tc.release, errs)
			}
		})
	}
	c, _ := config.Parse("", nil, "/srv/xtbuild", nil)
	for _, bad := range []struct {
		pins    []SrcrevPin
		mirrors []GitPremirror
	}{
		{[]SrcrevPin{{"xen", "SRCREV", "master"}}, nil},
		{[]SrcrevPin{{"xen", "SRC_URI", rev}}, nil},
		{nil, []GitPremirror{{"git://x.org/a.git", "relative/a.git"}}},
		{nil, []GitPremirror{{"git://x.org/a b.git", "/srv/a.git"}}},
	} {
		if _, err := SrcrevConf(c, bad.pins, bad.mirrors); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// srcrevEvalScript parses a conf file with real BitBake and prints, for
// each "PN VAR" argument pair, VAR's value in that recipe's override
// context, then PREMIRRORS.
const srcrevEvalScript = `
import sys, os
sys.path.insert(0, os.path.join(os.environ["BITBAKE_DIR"], "lib"))
import bb.data, bb.parse
import bb.parse.parse_py.ConfHandler
fn, pairs = sys.argv[1], sys.argv[2:]
for i in range(0, len(pairs), 2):
    d = bb.data.init()
    d.setVar("PN", pairs[i])
    d.setVar("OVERRIDES", "pn-${PN}")
    bb.parse.parse_py.ConfHandler.handle(fn, d, 0)
    print(d.getVar(pairs[i+1]))
print(" ".join(d.getVar("PREMIRRORS").split()))
`

// TestSrcrevConfRealBitBake: real BitBake (BITBAKE_DIR; 1.x is taken as
// dunfell, 2.x as scarthgap) reads the pins as each recipe's SRCREV and the
// premirror as PREMIRRORS.
func TestSrcrevConfRealBitBake(t *testing.T) {
	dir := testenvNeedBitbake(t)
	release := "scarthgap"
	if v, _ := os.ReadFile(filepath.Join(dir, "lib", "bb", "__init__.py")); strings.Contains(string(v), `__version__ = "1.`) {
		release = "dunfell"
	}
	c, err := config.Parse("xtbuild.toml", []byte("[build]\nrelease = \""+release+"\"\n"), "/srv/xtbuild", nil)
	if err != nil {
		t.Fatal(err)
	}
	const a, b = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	conf, err := SrcrevConf(c, []SrcrevPin{{"xen", "SRCREV", a}, {"multi", "SRCREV_ts", b}},
		[]GitPremirror{{"git://xenbits.xen.org/xen.git", "/srv/git/xen.git"}})
	if err != nil {
		t.Fatal(err)
	}
	fn := filepath.Join(t.TempDir(), "xtbuild-srcrev.conf")
	// A recipe's own SRCREV = "${AUTOREV}" comes first; the pin must win.
	if err := os.WriteFile(fn, append([]byte("SRCREV = \"${AUTOREV}\"\nSRCREV_ts = \"${AUTOREV}\"\n"), conf...), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", srcrevEvalScript, fn, "xen", "SRCREV", "multi", "SRCREV_ts", "other", "SRCREV")
	cmd.Env = append(os.Environ(), "BITBAKE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("BitBake (%s): %v\n%s", release, err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{a, b, "${AUTOREV}", "git://xenbits.xen.org/xen.git git:///srv/git/xen.git;protocol=file \\n"}
	if len(got) != len(want) {
		t.Fatalf("BitBake %s printed %q, want %q", release, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("BitBake %s: line %d = %q, want %q", release, i, got[i], want[i])
		}
	}
}

func testenvNeedBitbake(t *testing.T) string {
	return testenv.NeedEnv(t, "BITBAKE_DIR", "a BitBake checkout (1.46 for dunfell syntax, 2.x for colon overrides)")
}
