package doctor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/testenv"
)

func pyHost(t *testing.T, version string) Host {
	return fakeHost(t, "bash", nil, 1000, map[string]string{
		"git config --get user.name": "Build User\n", "git config --get user.email": "b@example.org\n",
		"locale -a": "C\nen_US.utf8\n", "python3 --version": "Python " + version + "\n",
	}, 200<<30)
}

// The case: a zeus profile on Debian 12's Python 3.11 is refused
// with the release, the Python found, why, and the exact host to use.
func TestDoctorRefusesZeusOnPython311(t *testing.T) {
	c, err := config.Parse("xtbuild.toml", []byte("[build]\nrelease = \"zeus\"\n"), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := pyHost(t, "3.11.2")
	var out bytes.Buffer
	if err := Print(&out, Run(context.Background(), c, h)); err == nil || err.Error() != "doctor: 1 of 9 checks failed" {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	want := "FAIL  release zeus   zeus (BitBake 1.44) cannot run on this host's Python 3.11.2: it runs on Python 3.4 to 3.9; " +
		"BitBake 1.44 imports MutableMapping from collections (lib/bb/data_smart.py), an alias Python 3.10 removed\n" +
		"      fix: build zeus on an older build host or in a container with Debian 10 (buster) (Python 3.7; validated for zeus; " +
		"bordel's openxt-zeus container is built on it), e.g. `podman run --rm -it -v \"$PWD:$PWD\" -w \"$PWD\" debian:buster` (or docker), then run xtbuild there\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	// The function setupoe calls gives the same refusal as an error.
	err = CheckRelease(context.Background(), h, "zeus")
	var re *ReleaseError
	if !errors.As(err, &re) || re.Release != "zeus" || re.Python != "Python 3.11.2" || !strings.Contains(re.Fix(), "debian:buster") {
		t.Errorf("CheckRelease = %v", err)
	}
}

func TestCheckReleaseTable(t *testing.T) {
	for _, tc := range []struct {
		release, python string
		ok              bool
	}{
		{"zeus", "3.7.3", true},
		{"zeus", "3.9.2", true},
		{"zeus", "3.10.12", false},
		{"zeus", "3.3.7", false},
		{"dunfell", "3.11.2", true},
		{"dunfell", "3.12.3", false},
		{"kirkstone", "3.5.3", false},
		{"kirkstone", "3.12.3", true},
		{"mickledore", "3.11.2", true},
		{"mickledore", "3.13.1", false},
		{"scarthgap", "3.7.3", false},
		{"scarthgap", "3.13.1", true},
		{"walnascar", "3.8.10", false},
		{"walnascar", "3.9.2", true},
	} {
		err := CheckRelease(context.Background(), pyHost(t, tc.python), tc.release)
		if (err == nil) != tc.ok {
			t.Errorf("%s on Python %s: %v, want ok=%v", tc.release, tc.python, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tc.release) || err != nil && !strings.Contains(err.Error(), "Python "+tc.python) {
			t.Errorf("error does not name the release and the Python: %v", err)
		}
	}
	if err := CheckRelease(context.Background(), pyHost(t, "3.11.2"), "pyro"); err == nil {
		t.Error("unknown release accepted")
	}
	if err := CheckRelease(context.Background(), fakeHost(t, "bash", nil, 1000, nil, 1), "scarthgap"); err == nil {
		t.Error("no python3 accepted")
	}
}

// Every release config accepts has host facts, with the same BitBake.
func TestSeriesCoversEveryRelease(t *testing.T) {
	for _, r := range config.Releases {
		s, ok := LookupSeries(r.Name)
		if !ok {
			t.Errorf("no host facts for %s", r.Name)
			continue
		}
		if s.Bitbake != r.Bitbake {
			t.Errorf("%s: bitbake %s here, %s in config.Releases", r.Name, s.Bitbake, r.Bitbake)
		}
		if !s.RunsOn(pyOf("Python "+s.Host.Python)) || !contains(s.Validated, strings.ToLower(strings.Fields(s.Host.Distro)[0])+"-"+hostVersion(s.Host.Image)) {
			t.Errorf("%s: advised host %s (Python %s) is not validated or cannot run it", r.Name, s.Host.Distro, s.Host.Python)
		}
	}
}

// hostVersion maps the advised image to its NATIVELSBSTRING version.
func hostVersion(image string) string {
	switch image {
	case "debian:buster":
		return "10"
	case "debian:bullseye":
		return "11"
	case "debian:bookworm":
		return "12"
	}
	_, v, _ := strings.Cut(image, ":")
	return v
}

func TestDoctorNamesTheDistro(t *testing.T) {
	h := pyHost(t, "3.11.2")
	os.MkdirAll(filepath.Join(h.Root, "etc"), 0o755)
	os.WriteFile(filepath.Join(h.Root, "etc", "os-release"), []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"), 0o644)
	ch := checkRelease(context.Background(), h, "scarthgap")
	if !ch.OK || !strings.Contains(ch.Info, "debian-12 is validated for scarthgap") {
		t.Errorf("%+v", ch)
	}
	os.WriteFile(filepath.Join(h.Root, "etc", "os-release"), []byte("ID=arch\nVERSION_ID=\"2026\"\n"), 0o644)
	if ch := checkRelease(context.Background(), h, "scarthgap"); !ch.OK || !strings.Contains(ch.Info, "arch-2026 is not among the hosts scarthgap was validated on") {
		t.Errorf("%+v", ch)
	}
}

// The table against the upstream sources it cites, when clones are at hand
// (XTBUILD_UPSTREAM_GIT: a directory with openembedded+bitbake/repo and
// yoctoproject+poky/repo bare clones, as the fetch tool lays them out).
func TestSeriesMatchesUpstream(t *testing.T) {
	root := testenv.NeedEnv(t, "XTBUILD_UPSTREAM_GIT", "bare clones of bitbake and poky")
	git := testenv.LookPath(t, "git", "git")
	show := func(repo, rev string) string {
		out, err := exec.Command(git, "--git-dir="+filepath.Join(root, repo, "repo"), "show", rev).Output()
		if err != nil {
			t.Fatalf("git show %s in %s: %v", rev, repo, err)
		}
		return string(out)
	}
	minRE := regexp.MustCompile(`sys\.version_info < \((\d+), (\d+), 0\):\s*\n\s*raise RuntimeError`)
	distroRE := regexp.MustCompile(`(?s)SANITY_TESTED_DISTROS \?= "(.*?)"`)
	for _, s := range Series {
		init := show("openembedded+bitbake", s.Bitbake+":lib/bb/__init__.py")
		m := minRE.FindStringSubmatch(init)
		if m == nil {
			t.Errorf("%s: no minimum Python in bitbake %s", s.Release, s.Bitbake)
			continue
		}
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if (PyVersion{major, minor}) != s.MinPy {
			t.Errorf("%s: bitbake %s wants Python %d.%d, table says %s", s.Release, s.Bitbake, major, minor, s.MinPy)
		}
		conf := show("yoctoproject+poky", s.Release+":meta-poky/conf/distro/poky.conf")
		d := distroRE.FindStringSubmatch(conf)
		if d == nil {
			t.Errorf("%s: no SANITY_TESTED_DISTROS", s.Release)
			continue
		}
		var got []string
		for _, f := range strings.Fields(strings.NewReplacer(`\n`, " ", `\`, " ").Replace(d[1])) {
			got = append(got, f)
		}
		if strings.Join(got, " ") != strings.Join(s.Validated, " ") {
			t.Errorf("%s: SANITY_TESTED_DISTROS upstream:\n%s\ntable:\n%s", s.Release, strings.Join(got, " "), strings.Join(s.Validated, " "))
		}
	}
	// The breakages the table names are in the code it names.
	if !strings.Contains(show("openembedded+bitbake", "1.44:lib/bb/data_smart.py"), "from collections import MutableMapping") {
		t.Error("bitbake 1.44 data_smart.py no longer imports MutableMapping from collections")
	}
	if !strings.Contains(show("openembedded+bitbake", "1.46:lib/pyinotify.py"), "\nimport asyncore") {
		t.Error("bitbake 1.46 pyinotify no longer imports asyncore")
	}
}

// The current-host board profile's BitBake runs on Debian 12's Python 3.11;
// the zeus boards are refused with the host to use instead.
func TestBoardProfilesOnPython311(t *testing.T) {
	c, err := config.Parse("", nil, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := pyHost(t, "3.11.7")
	d, err := c.ForBoard("apu1d-scarthgap")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRelease(context.Background(), h, d.Build.Release); err != nil {
		t.Errorf("%s on Python 3.11: %v", d.Build.Release, err)
	}
	z, err := c.ForBoard("apu1d")
	if err != nil {
		t.Fatal(err)
	}
	err = CheckRelease(context.Background(), h, z.Build.Release)
	var re *ReleaseError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "zeus (BitBake 1.44) cannot run on this host's Python 3.11.7: it runs on Python 3.4 to 3.9") ||
		!strings.Contains(re.Fix(), "Debian 10 (buster)") {
		t.Errorf("zeus on Python 3.11: %v", err)
	}
}
