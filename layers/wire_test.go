package layers

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/internal/gittest"
)

// plainHome points HOME at an empty directory (no user git configuration)
// and skips when the system's configuration keeps the in-process fetch
// from being used on this host.
func plainHome(t *testing.T) string {
	t.Helper()
	testenvGit(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	if !readHostConfig(os.Getenv).fetch {
		t.Skip("/etc/gitconfig changes fetches here; the in-process fetch is not used on this host")
	}
	return home
}

func gitLines(t *testing.T, log, sub string) []string {
	t.Helper()
	data, _ := os.ReadFile(log)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(" "+l+" ", " "+sub+" ") {
			out = append(out, l)
		}
	}
	return out
}

// A cold pinned layer from a local upstream is fetched in process (no `git
// fetch`), small packs indexed in process and large ones by `git
// index-pack`, with and without the store; git sees a sound shallow
// repository at the pinned commit.
func TestSyncFetchesInProcess(t *testing.T) {
	plainHome(t)
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up", "meta-a"), 12)
	pin := gittest.Git(t, up.Dir, "rev-parse", "HEAD~3") // not a branch tip
	defer func(n int) { wireObjects = n }(wireObjects)
	for _, tc := range []struct {
		name, url, cache string
		objects          int // wireObjects
		indexPack        bool
	}{
		{"path, in-process index", up.Dir, "", 256, false},
		{"file URL, git index-pack", "file://" + up.Dir, "", 2, true},
		{"store, in-process index", up.Dir, "cache-a", 256, false},
		{"store, git index-pack", "file://" + up.Dir, "cache-b", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wireObjects = tc.objects
			log := logGit(t)
			text := fmt.Sprintf("[[layer]]\nname = \"meta-a\"\nurl = %q\nbranch = \"main\"\ncommit = %q\nsublayers = [\".\"]\n", tc.url, pin)
			if tc.cache != "" {
				text += fmt.Sprintf("[paths]\ngit_cache = %q\n", filepath.Join(root, tc.cache))
			}
			c := parse(t, filepath.Join(root, "work-"+strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)), text)
			res, err := Sync(context.Background(), c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if f := gitLines(t, log, "fetch"); len(f) > 0 {
				t.Errorf("git fetch ran: %q", f)
			}
			if ip := gitLines(t, log, "index-pack"); (len(ip) > 0) != tc.indexPack {
				t.Errorf("git index-pack runs %q, want some: %v", ip, tc.indexPack)
			}
			dir := res[0].Dir
			if res[0].Fetch != "commit" || head(t, dir) != pin {
				t.Errorf("fetch %q, HEAD %s; want commit, %s", res[0].Fetch, head(t, dir), pin)
			}
			if n := commits(t, dir); n != 1 {
				t.Errorf("%d commits of history, want 1 (depth 1)", n)
			}
			gittest.Git(t, dir, "fsck", "--no-progress")
			if st := gittest.Git(t, dir, "status", "--porcelain"); st != "" {
				t.Errorf("status: %s", st)
			}
			if tc.cache != "" {
				mirrors, _ := filepath.Glob(filepath.Join(root, tc.cache, "*.git"))
				if len(mirrors) != 1 {
					t.Fatalf("mirrors %v", mirrors)
				}
				if got := gittest.Git(t, mirrors[0], "rev-parse", pinRef(pin)); got != pin {
					t.Errorf("pin ref %s, want %s", got, pin)
				}
				gittest.Git(t, mirrors[0], "fsck", "--no-progress")
				if own := ownObjects(t, dir); !strings.Contains(own, "in-pack: 0\n") || !strings.Contains(own, "count: 0\n") {
					t.Errorf("the checkout holds objects of its own:\n%s", own)
				}
			}
			// The next run of the same pin is the warm no-op.
			res, err = Sync(context.Background(), c, Options{})
			if err != nil || res[0].Action != "unchanged" {
				t.Fatalf("second sync: %v %+v", err, res)
			}
		})
	}
}

// What the in-process fetch does not handle goes to git fetch: user
// configuration that changes fetches, and a failure on the way, after
// which nothing of the attempt is left behind.
func TestWireFallsBackToGit(t *testing.T) {
	home := plainHome(t)
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up", "meta-a"), 4)
	pin := up.Head()
	layer := fmt.Sprintf("[[layer]]\nname = \"meta-a\"\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n", up.Dir, pin)

	t.Run("insteadOf configured", func(t *testing.T) {
		cfg := filepath.Join(home, ".gitconfig")
		os.WriteFile(cfg, []byte("[url \"file:///nowhere/\"]\n\tinsteadOf = git://nowhere.example/\n"), 0o644)
		defer os.Remove(cfg)
		log := logGit(t)
		res, err := Sync(context.Background(), parse(t, filepath.Join(root, "w1"), layer), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(gitLines(t, log, "fetch")) != 1 || head(t, res[0].Dir) != pin {
			t.Errorf("want one git fetch and HEAD %s; log %q", pin, gitLines(t, log, "fetch"))
		}
	})

	t.Run("XTBUILD_EXEC_GIT", func(t *testing.T) {
		log := logGit(t)
		res, err := Sync(context.Background(), parse(t, filepath.Join(root, "w-exec"), layer), Options{ExecGit: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(gitLines(t, log, "fetch")) != 1 || len(gitLines(t, log, "checkout")) != 1 || head(t, res[0].Dir) != pin {
			data, _ := os.ReadFile(log)
			t.Errorf("want one git fetch, one git checkout and HEAD %s; git ran:\n%s", pin, data)
		}
	})

	t.Run("upstream object missing", func(t *testing.T) {
		broken := history(t, filepath.Join(root, "up", "meta-broken"), 3)
		blob := gittest.Git(t, broken.Dir, "rev-parse", "HEAD:recipes/r2.bb")
		os.Remove(filepath.Join(broken.Dir, ".git", "objects", blob[:2], blob[2:]))
		log := logGit(t)
		c := parse(t, filepath.Join(root, "w2"), fmt.Sprintf("[[layer]]\nname = \"b\"\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n", broken.Dir, broken.Head()))
		_, err := Sync(context.Background(), c, Options{})
		if err == nil || !strings.Contains(err.Error(), "in process (") {
			t.Fatalf("err %v; want the in-process attempt named", err)
		}
		if len(gitLines(t, log, "fetch")) == 0 {
			t.Error("git fetch was not tried after the in-process fetch failed")
		}
		left, _ := filepath.Glob(filepath.Join(c.LayersDir(), "*"))
		if len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
		// The same upstream followed by branch: the error names the
		// in-process attempt too.
		c = parse(t, filepath.Join(root, "w3"), fmt.Sprintf("[[layer]]\nname = \"b\"\nurl = %q\nbranch = \"main\"\nsublayers = [\".\"]\n", broken.Dir))
		if _, err := Sync(context.Background(), c, Options{}); err == nil || !strings.Contains(err.Error(), "in process (") {
			t.Fatalf("branch: err %v; want the in-process attempt named", err)
		}
	})
}

// The URLs the in-process fetch leaves to git.
func TestDialWireRefuses(t *testing.T) {
	for _, u := range []string{
		"https://github.com/OpenXT/xenclient-oe.git",
		"ssh://git@example.org/x.git",
		"git@github.com:OpenXT/xenclient-oe.git",
		"file:///srv/git/a%20b.git",
		"file://host/srv/x.git",
		"git://user@example.org/x.git",
		"git://example.org",
		"relative/path",
	} {
		if _, err := dialWire(context.Background(), u); !errors.Is(err, errNoWire) {
			t.Errorf("%s: %v, want errNoWire", u, err)
		}
	}
}

// packOf returns a pack (git pack-objects) of the given objects of the
// repository at dir.
func packOf(t *testing.T, dir string, objects ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", "-C", dir, "pack-objects", "--stdout", "-q")
	cmd.Stdin = strings.NewReader(strings.Join(objects, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storePack keeps a sound pack under git's name for it, and refuses a
// corrupt or truncated one or one with data after it, leaving nothing.
func TestStorePack(t *testing.T) {
	testenvGit(t)
	up := history(t, filepath.Join(t.TempDir(), "up"), 3)
	objs := strings.Fields(gittest.Git(t, up.Dir, "rev-list", "--objects", "--no-object-names", "HEAD"))
	pack := packOf(t, up.Dir, objs...)
	defer func(n int) { wireObjects = n }(wireObjects)
	for _, tc := range []struct {
		name    string
		data    []byte
		objects int
		want    string // error, "" for success
	}{
		{"in process", pack, 256, ""},
		{"git index-pack", pack, 1, ""},
		{"flipped byte", flip(pack, len(pack)/2), 256, "checksum"},
		{"flipped byte, git", flip(pack, len(pack)/2), 1, "index-pack"},
		{"truncated", pack[:len(pack)-7], 256, "checksum"},
		{"data after the pack", append(append([]byte{}, pack...), "junk"...), 256, "data after the pack"},
		{"not a pack", []byte("<html>oops</html>"), 256, "no pack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wireObjects = tc.objects
			gitdir := filepath.Join(t.TempDir(), "r")
			if err := initRepo(gitdir, true, "file:///nowhere"); err != nil {
				t.Fatal(err)
			}
			err := storePack(context.Background(), gitRunner{}, gitdir, bytes.NewReader(tc.data))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				sum := pack[len(pack)-20:]
				if _, err := os.Stat(filepath.Join(gitdir, "objects", "pack", fmt.Sprintf("pack-%x.idx", sum))); err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					gittest.Git(t, gitdir, "cat-file", "-e", o)
				}
				gittest.Git(t, gitdir, "verify-pack", filepath.Join(gitdir, "objects", "pack", fmt.Sprintf("pack-%x.pack", sum)))
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if left, _ := os.ReadDir(filepath.Join(gitdir, "objects", "pack")); len(left) != 0 {
				t.Errorf("left in objects/pack: %v", left)
			}
		})
	}
}

func flip(b []byte, at int) []byte {
	c := append([]byte{}, b...)
	c[at] ^= 0xff
	return c
}

// A fetch whose pack lacks part of the tree is not done: connected says
// what is missing.
func TestConnectedFindsMissingBlob(t *testing.T) {
	testenvGit(t)
	up := history(t, filepath.Join(t.TempDir(), "up"), 3)
	head := up.Head()
	objs := strings.Fields(gittest.Git(t, up.Dir, "rev-list", "--objects", "--no-object-names", "-1", "HEAD"))
	missing := gittest.Git(t, up.Dir, "rev-parse", "HEAD:recipes/r1.bb")
	var keep []string
	for _, o := range objs {
		if o != missing {
			keep = append(keep, o)
		}
	}
	gitdir := filepath.Join(t.TempDir(), "r")
	initRepo(gitdir, true, "file:///nowhere")
	if err := storePack(context.Background(), gitRunner{}, gitdir, bytes.NewReader(packOf(t, up.Dir, keep...))); err != nil {
		t.Fatal(err)
	}
	if err := connected(gitdir, head); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("connected: %v, want %s named", err, missing)
	}
	if err := storePack(context.Background(), gitRunner{}, gitdir, bytes.NewReader(packOf(t, up.Dir, missing))); err != nil {
		t.Fatal(err)
	}
	if err := connected(gitdir, head); err != nil {
		t.Fatalf("with the blob: %v", err)
	}
}

// trailerSum checks the last 20 bytes against the rest, however the
// stream is split into writes.
func TestTrailerSum(t *testing.T) {
	body := bytes.Repeat([]byte("pack data "), 7)
	sum := sha1.Sum(body)
	good := append(append([]byte{}, body...), sum[:]...)
	for split := 0; split <= len(good); split++ {
		for _, data := range [][]byte{good, flip(good, len(good)-1), good[1:]} {
			s := &trailerSum{h: sha1.New()}
			s.Write(data[:min(split, len(data))])
			s.Write(data[min(split, len(data)):])
			if want := bytes.Equal(data, good); s.ok() != want {
				t.Fatalf("split %d, intact %v: ok() = %v", split, want, s.ok())
			}
		}
	}
	s := &trailerSum{h: sha1.New()}
	s.Write(good[:10])
	if s.ok() {
		t.Error("fewer than 20 bytes passed")
	}
}

// A cold layer that follows a branch or a tag gets what it names in
// process (ls-refs, then fetch, one session), with the local ref git fetch
// would write: the branch's tip, an annotated tag's tag object.
func TestSyncFollowsRefInProcess(t *testing.T) {
	plainHome(t)
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up", "meta-a"), 6)
	gittest.Git(t, up.Dir, "tag", "v0", "HEAD~4")
	gittest.Git(t, up.Dir, "tag", "-a", "-m", "release 1", "v1", "HEAD~1")
	gittest.Git(t, up.Dir, "checkout", "-q", "-b", "dev", "HEAD~2")
	tip := up.Commit("recipes/dev.bb", "PV = \"dev\"\n", "on dev")
	gittest.Git(t, up.Dir, "checkout", "-q", "main")
	for _, tc := range []struct {
		key, name, local, commit string
		tagObject                bool
	}{
		{"branch", "dev", "refs/remotes/origin/dev", tip, false},
		{"tag", "v1", "refs/tags/v1", gittest.Git(t, up.Dir, "rev-parse", "v1^{commit}"), true},
		{"tag", "v0", "refs/tags/v0", gittest.Git(t, up.Dir, "rev-parse", "v0^{commit}"), false},
	} {
		for _, store := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s %s store=%v", tc.key, tc.name, store), func(t *testing.T) {
				log := logGit(t)
				text := fmt.Sprintf("[[layer]]\nname = \"meta-a\"\nurl = %q\n%s = %q\nsublayers = [\".\"]\n", "file://"+up.Dir, tc.key, tc.name)
				if store {
					text += fmt.Sprintf("[paths]\ngit_cache = %q\n", filepath.Join(root, "cache-"+tc.name))
				}
				c := parse(t, filepath.Join(root, fmt.Sprintf("w-%s-%v", tc.name, store)), text)
				res, err := Sync(context.Background(), c, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if f := gitLines(t, log, "fetch"); len(f) > 0 {
					t.Errorf("git fetch ran: %q", f)
				}
				if res[0].Commit != tc.commit || res[0].Fetch != "tip" || head(t, res[0].Dir) != tc.commit {
					t.Errorf("result %+v, HEAD %s; want %s", res[0], head(t, res[0].Dir), tc.commit)
				}
				want := gittest.Git(t, up.Dir, "rev-parse", tc.name)
				if got := gittest.Git(t, res[0].Dir, "rev-parse", tc.local); got != want {
					t.Errorf("%s %s, want %s", tc.local, got, want)
				}
				if typ := gittest.Git(t, res[0].Dir, "cat-file", "-t", tc.local); (typ == "tag") != tc.tagObject {
					t.Errorf("%s is a %s", tc.local, typ)
				}
				gittest.Git(t, res[0].Dir, "fsck", "--no-progress")
				if store {
					mirrors, _ := filepath.Glob(filepath.Join(root, "cache-"+tc.name, "*.git"))
					mirrorRef := strings.Replace(tc.local, "refs/remotes/origin/", "refs/heads/", 1)
					if len(mirrors) != 1 || gittest.Git(t, mirrors[0], "rev-parse", mirrorRef) != want {
						t.Errorf("mirror %v lacks %s at %s", mirrors, mirrorRef, want)
					}
				}
			})
		}
	}
}

func TestSafeRefName(t *testing.T) {
	for name, want := range map[string]bool{
		"refs/remotes/origin/master":        true,
		"refs/heads/release/9.0":            true,
		"refs/heads/stable-4.0.x":           true,
		"refs/heads/../../config":           false,
		"refs/heads/a/../b":                 false,
		"refs/heads/.hidden":                false,
		"refs/heads/x.lock":                 false,
		"refs/heads/a b":                    false,
		"refs/heads/a\\b":                   false,
		"refs/heads/a:b":                    false,
		"refs/heads/a@{1}":                  false,
		"refs/heads/a//b":                   false,
		"refs/heads/":                       false,
		"refs/heads/x.":                     false,
		"refs/heads/new\nline":              false,
		"HEAD":                              false,
		"refs/remotes/origin/feature/x~1^2": false,
	} {
		if got := safeRefName(name); got != want {
			t.Errorf("safeRefName(%q) = %v, want %v", name, got, want)
		}
	}
}

// What a killed in-process fetch leaves in a mirror (atomicfile's temporary
// files) is removed the next time the mirror is opened; git's own
// temporary files are not touched.
func TestStoreRemovesWireTemps(t *testing.T) {
	testenvGit(t)
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up"), 2)
	s := store{dir: filepath.Join(root, "cache")}
	os.MkdirAll(s.dir, 0o755)
	m, err := s.open(context.Background(), gitRunner{}, up.Dir)
	if err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(m.dir, "objects", "pack")
	os.MkdirAll(pack, 0o755)
	for _, f := range []string{".tmp_pack.tmp-123", ".pack-abc.idx.tmp-456", "tmp_pack_git"} {
		os.WriteFile(filepath.Join(pack, f), []byte("x"), 0o644)
	}
	m.release()
	m, err = s.open(context.Background(), gitRunner{}, up.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release()
	left, _ := os.ReadDir(pack)
	if len(left) != 1 || left[0].Name() != "tmp_pack_git" {
		t.Errorf("left in objects/pack: %v, want only git's tmp_pack_git", left)
	}
}

// A layer pinned to a commit and naming a tag, with the store: the
// checkout's tag ref names the pinned commit (fetched by id, the tag
// itself never arrives).
func TestStorePinnedWithTag(t *testing.T) {
	plainHome(t)
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up", "meta-a"), 4)
	gittest.Git(t, up.Dir, "tag", "-a", "-m", "r", "v1", "HEAD~1")
	pin := gittest.Git(t, up.Dir, "rev-parse", "v1^{commit}")
	c := parse(t, filepath.Join(root, "w"), fmt.Sprintf("[[layer]]\nname = \"a\"\nurl = %q\ntag = \"v1\"\ncommit = %q\nsublayers = [\".\"]\n[paths]\ngit_cache = %q\n", up.Dir, pin, filepath.Join(root, "cache")))
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if head(t, res[0].Dir) != pin || gittest.Git(t, res[0].Dir, "rev-parse", "refs/tags/v1^{commit}") != pin {
		t.Errorf("HEAD %s, v1 %s; want %s", head(t, res[0].Dir), gittest.Git(t, res[0].Dir, "rev-parse", "refs/tags/v1^{commit}"), pin)
	}
}
