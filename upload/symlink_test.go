package upload

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// chainLinks adds to build b the escape from issue #18 item 8: relative
// symlinks that each stay inside the build when read as text, but climb one
// directory further each time when the kernel follows them.
//
//	p/q    -> ..             (the build root)
//	up1    -> p/q/..         (root's parent; as text: "p")
//	upN    -> up(N-1)/..     (one more level up; as text: ".")
//	passwd -> up7/etc/passwd (as text: inside the build)
func chainLinks(t *testing.T, b string) {
	t.Helper()
	links := [][2]string{{"p/q", ".."}, {"up1", "p/q/.."}}
	for i := 2; i <= 7; i++ {
		links = append(links, [2]string{"up" + strconv.Itoa(i), "up" + strconv.Itoa(i-1) + "/.."})
	}
	links = append(links, [2]string{"passwd", "up7/etc/passwd"})
	if err := os.MkdirAll(filepath.Join(b, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if err := os.Symlink(l[1], filepath.Join(b, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	// The link really reaches the host's /etc/passwd from the build.
	if got, err := filepath.EvalSymlinks(filepath.Join(b, "passwd")); err != nil || got != "/etc/passwd" {
		t.Fatalf("test setup: passwd resolves to %q (%v), want /etc/passwd", got, err)
	}
}

func TestPublishRefusesSymlinkChainEscape(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			root := t.TempDir()
			src := makeBuild(t, root, 1<<10)
			chainLinks(t, src)
			dest := filepath.Join(root, "dest")
			o := Options{Src: src, Dest: tg.url(dest), Branch: "master"}
			tg.opts(&o)
			_, err := Publish(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), "points outside the build") {
				t.Errorf("Publish of a build with a symlink chain out of it: %v, want a refusal", err)
			}
			// Whatever the error, nothing at the destination may lead to
			// the host's files.
			for _, rel := range []string{"passwd", "up7", "up1"} {
				for _, dir := range []string{testName, "." + testName + ".partial"} {
					p := filepath.Join(dest, "master", dir, rel)
					if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("%s published (stat: %v)", p, err)
					}
				}
			}
		})
	}
}

// TestResolveLinks checks the resolver on its own: every hop is followed
// against the real tree, and a path that leaves the build at any point is
// refused, even when it comes back in.
func TestResolveLinks(t *testing.T) {
	root := filepath.Join(t.TempDir(), "build")
	writeFile(t, filepath.Join(root, "netboot", "vmlinuz"), "k")
	mk := func(link, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	mk("netboot/bzImage", "vmlinuz")           // same directory
	mk("kernel", "netboot/bzImage")            // link to a link
	mk("nb", "netboot")                        // link to a directory
	mk("via", "nb/../netboot/vmlinuz")         // .. after a directory link: nb's parent is the root
	mk("dangling", "missing/file")             // dangling, stays inside
	mk("d/up", "..")                           // the root
	mk("d/upup", "up/..")                      // text "d", really the root's parent
	mk("back", "d/upup/build/netboot/vmlinuz") // leaves and comes back in by name
	mk("abs", "/etc/passwd")                   // absolute
	mk("loop1", "loop2")                       // a loop
	mk("loop2", "loop1")                       // its other half
	mk("deep", "netboot/../../x")              // plainly out
	mk("missingup", "missing/../../x")         // out through a missing directory
	mk("self", ".")                            // the root itself
	cases := []struct {
		link string
		want string // "" for accepted, else a fragment of the error
	}{
		{"netboot/bzImage", ""},
		{"kernel", ""},
		{"nb", ""},
		{"via", ""},
		{"dangling", ""},
		{"d/up", ""},
		{"self", ""},
		{"d/upup", "outside"},
		{"back", "outside"},
		{"abs", "absolute"},
		{"loop1", "too many"},
		{"deep", "outside"},
		{"missingup", "outside"},
	}
	for _, c := range cases {
		t.Run(c.link, func(t *testing.T) {
			err := checkLink(root, c.link)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
