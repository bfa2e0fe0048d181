package doctor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
)

// fakeHost is a host whose /bin/sh, PATH, uid, command outputs and free
// space the test chooses (a real root tree for the /bin/sh symlink).
func fakeHost(t *testing.T, sh string, missing []string, uid int, outputs map[string]string, free uint64) Host {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", sh), []byte("#!"), 0o755)
	os.Symlink(sh, filepath.Join(root, "bin", "sh"))
	return Host{
		Root: root,
		LookPath: func(name string) (string, error) {
			for _, m := range missing {
				if m == name {
					return "", errors.New("not found")
				}
			}
			return "/usr/bin/" + name, nil
		},
		Getuid: func() int { return uid },
		Output: func(ctx context.Context, name string, args ...string) (string, error) {
			key := strings.Join(append([]string{name}, args...), " ")
			if out, ok := outputs[key]; ok {
				return out, nil
			}
			return "", errors.New("exit status 1")
		},
		FreeBytes: func(string) (uint64, error) { return free, nil },
	}
}

func TestDoctorHealthyHost(t *testing.T) {
	c, _ := config.Parse("", nil, t.TempDir(), nil)
	h := fakeHost(t, "bash", nil, 1000, map[string]string{
		"git config --get user.name": "Build User\n", "git config --get user.email": "b@example.org\n",
		"locale -a": "C\nC.utf8\nen_US.utf8\nPOSIX\n", "python3 --version": "Python 3.11.2\n",
	}, 200<<30)
	var out bytes.Buffer
	if err := Print(&out, Run(context.Background(), c, h)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok    /bin/sh        /bin/sh is bash") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestDoctorNamesEveryProblemAndItsFix(t *testing.T) {
	c, _ := config.Parse("", nil, t.TempDir(), nil)
	h := fakeHost(t, "dash", []string{"gawk", "makeinfo"}, 0, map[string]string{
		"locale -a": "C\nC.utf8\nPOSIX\n", "python3 --version": "Python 3.6.9\n",
	}, 10<<30)
	c.Build.Release = "scarthgap" // BitBake 2.8 needs Python 3.8: the release check fails too
	var out bytes.Buffer
	err := Print(&out, Run(context.Background(), c, h))
	if err == nil || err.Error() != "doctor: 8 of 9 checks failed" {
		t.Fatalf("error %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"FAIL  /bin/sh        /bin/sh is dash", "dpkg-reconfigure dash",
		"missing: gawk, makeinfo", "fix: apt-get install gawk texinfo",
		"10.0 GiB free", "free 140.0 GiB more",
		"fix: git config --global user.name",
		"only C.UTF-8", "locale-gen",
		"scarthgap (BitBake 2.8) cannot run on this host's Python 3.6.9: it runs on Python 3.8 or newer",
		"running as root", "ordinary user",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
