package bbconf

import (
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/bbsyntax"
	"github.com/xtbuild/xtbuild/config"
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
