package layers

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/internal/treetest"
)

// plainUpstream makes a repository whose tree has every kind of entry a
// plain checkout writes: nested directories, an executable, an empty
// file, names with spaces and non-ASCII, a relative and an absolute
// symlink, a gitlink and a 1 MiB binary.
func plainUpstream(t *testing.T, dir string) (*gittest.Repo, string) {
	t.Helper()
	r := gittest.New(t, dir, "main")
	big := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(big)
	files := map[string]string{
		"recipes/deep/er/x.bb": "SUMMARY = \"x\"\n",
		"scripts/run.sh":       "#!/bin/sh\necho hi\n",
		"empty":                "",
		"with space/ünï.txt":   "text\n",
		"blob.bin":             string(big),
	}
	for name, content := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "scripts/run.sh"), 0o755)
	os.Symlink("recipes/deep/er/x.bb", filepath.Join(dir, "rel-link"))
	os.Symlink("/etc/hostname", filepath.Join(dir, "abs-link"))
	gittest.Git(t, dir, "add", "-A")
	gittest.Git(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+r.Head()+",sub/module")
	gittest.Git(t, dir, "commit", "-q", "-m", "plain tree")
	os.MkdirAll(filepath.Join(dir, "sub", "module"), 0o755) // as a checkout leaves a gitlink
	return r, r.Head()
}

// The in-process checkout writes what C git's checkout writes, and git
// sees the result as clean with an index equal to the tree.
func TestCheckoutFreshMatchesGit(t *testing.T) {
	testenvGit(t)
	root := t.TempDir()
	up, sha := plainUpstream(t, filepath.Join(root, "up"))

	mine := filepath.Join(root, "mine")
	if err := initRepo(mine, false, up.Dir); err != nil {
		t.Fatal(err)
	}
	if err := checkoutFresh(context.Background(), filepath.Join(up.Dir, ".git"), mine, sha); err != nil {
		t.Fatal(err)
	}
	checkIndexStat(t, mine) // first: git status would refresh the index
	// Git reads the objects through alternates, as a store checkout does.
	os.MkdirAll(filepath.Join(mine, ".git", "objects", "info"), 0o755)
	os.WriteFile(filepath.Join(mine, ".git", "objects", "info", "alternates"), []byte(filepath.Join(up.Dir, ".git", "objects")+"\n"), 0o644)

	theirs := filepath.Join(root, "theirs")
	gittest.Git(t, root, "clone", "-q", "--no-checkout", up.Dir, theirs)
	gittest.Git(t, theirs, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", sha)

	if d := treetest.Diff(treetest.Snapshot(t, mine, ".git"), treetest.Snapshot(t, theirs, ".git")); len(d) > 0 {
		t.Errorf("worktrees differ (in process | git):\n%s", strings.Join(d, "\n"))
	}
	if got := gittest.Git(t, mine, "rev-parse", "HEAD"); got != sha {
		t.Errorf("HEAD %s, want %s", got, sha)
	}
	if st := gittest.Git(t, mine, "status", "--porcelain", "--ignore-submodules=none"); st != "" {
		t.Errorf("git status after in-process checkout:\n%s", st)
	}
	if a, b := gittest.Git(t, mine, "ls-files", "-s"), gittest.Git(t, theirs, "ls-files", "-s"); a != b {
		t.Errorf("index differs\nin process:\n%s\ngit:\n%s", a, b)
	}
}

// checkIndexStat compares the stat data git reads from the index
// (ls-files --debug) with the files themselves. git status cannot show a
// mismatch here: entries as new as the index are racily clean and git
// compares their content instead.
func checkIndexStat(t *testing.T, dir string) {
	t.Helper()
	out := gittest.Git(t, dir, "-c", "core.quotePath=false", "ls-files", "--debug")
	var name string
	checked := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if !strings.HasPrefix(l, " ") {
			name = l
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.IsDir() { // a gitlink: no stat data
			continue
		}
		var want string
		switch f[0] {
		case "ctime:":
			want = fmt.Sprintf("%d:%d", st.Ctim.Sec, st.Ctim.Nsec)
		case "mtime:":
			want = fmt.Sprintf("%d:%d", st.Mtim.Sec, st.Mtim.Nsec)
		case "dev:":
			want = fmt.Sprintf("%d ino: %d", uint32(st.Dev), uint32(st.Ino))
		case "uid:":
			want = fmt.Sprintf("%d gid: %d", st.Uid, st.Gid)
		case "size:":
			want = fmt.Sprintf("%d", uint32(st.Size))
			f = f[:2]
		}
		if got := strings.Join(f[1:], " "); got != want {
			t.Errorf("%s: index has %s %s, the file %s", name, f[0], got, want)
		}
		checked++
	}
	if checked < 5*6 {
		t.Fatalf("checked %d stat fields: ls-files --debug output not understood:\n%s", checked, out)
	}
}

// A tree with .gitattributes goes to C git, which applies them; so does
// one whose git configuration changes checkouts.
func TestCheckoutFallsBackToGit(t *testing.T) {
	testenvGit(t)
	root := t.TempDir()
	up := gittest.New(t, filepath.Join(root, "up"), "main")
	up.Commit("sub/.gitattributes", "*.txt eol=crlf\n", "attributes")
	sha := up.Commit("sub/a.txt", "one\ntwo\n", "text")

	dir := filepath.Join(root, "probe")
	initRepo(dir, false, up.Dir)
	err := checkoutFresh(context.Background(), filepath.Join(up.Dir, ".git"), dir, sha)
	if !errors.Is(err, errNotPlain) {
		t.Fatalf("checkoutFresh of a tree with .gitattributes: %v, want errNotPlain", err)
	}

	defer func(n int) { maxFreshFiles = n }(maxFreshFiles)
	maxFreshFiles = 2
	small := gittest.New(t, filepath.Join(root, "small"), "main") // conf/ and conf/layer.conf
	os.RemoveAll(dir)
	initRepo(dir, false, small.Dir)
	if err := checkoutFresh(context.Background(), filepath.Join(small.Dir, ".git"), dir, small.Head()); err != nil {
		t.Fatalf("a tree of 2 paths with a limit of 2: %v", err)
	}
	third := small.Commit("conf/more.conf", "X = \"1\"\n", "a third path")
	os.RemoveAll(dir)
	initRepo(dir, false, small.Dir)
	if err := checkoutFresh(context.Background(), filepath.Join(small.Dir, ".git"), dir, third); !errors.Is(err, errLargeTree) {
		t.Fatalf("a tree over maxFreshFiles: %v, want errLargeTree", err)
	}
	maxFreshFiles = 256

	c := parse(t, filepath.Join(root, "work"), fmt.Sprintf("[[layer]]\nname = \"l\"\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n", up.Dir, sha))
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(res[0].Dir, "sub", "a.txt"))
	if string(data) != "one\r\ntwo\r\n" {
		t.Errorf("a.txt %q: the attributes were not applied (C git was not used)", data)
	}
	if st := gittest.Git(t, res[0].Dir, "status", "--porcelain"); st != "" {
		t.Errorf("status: %s", st)
	}

	for _, tc := range []struct {
		name, cfg string
		want      hostConfig
	}{
		{"identity and credentials", "[user]\n\tname = x\n[credential \"https://e.org\"]\n\thelper = store\n[safe]\n\tdirectory = *\n", hostConfig{true, true}},
		{"autocrlf", "[core]\n\tautocrlf = true\n", hostConfig{false, true}},
		{"eol", "[core]\n\teol = crlf\n", hostConfig{false, true}},
		{"symlinks off", "[core]\n\tsymlinks = false\n", hostConfig{false, true}},
		{"global attributes", "[core]\n\tattributesFile = ~/a\n", hostConfig{false, true}},
		{"filter", "[filter \"lfs\"]\n\tsmudge = git-lfs smudge %f\n", hostConfig{false, true}},
		{"include", "[include]\n\tpath = other\n", hostConfig{}},
		{"includeIf", "[includeIf \"gitdir:~/w/\"]\n\tpath = other\n", hostConfig{}},
		{"index version", "[index]\n\tversion = 4\n", hostConfig{false, true}},
		{"unparsable", "[core\n", hostConfig{}},
		{"insteadOf", "[url \"file:///mirror/\"]\n\tinsteadOf = git://e.org/\n", hostConfig{true, false}},
		{"fsck received objects", "[transfer]\n\tfsckObjects = true\n", hostConfig{true, false}},
		{"fetch fsck", "[fetch]\n\tfsckObjects = true\n", hostConfig{true, false}},
		{"fsck message levels", "[fetch \"fsck\"]\n\tbadDate = ignore\n", hostConfig{true, false}},
		{"fetch prune", "[fetch]\n\tprune = true\n[transfer]\n\tunpackLimit = 1\n", hostConfig{true, true}},
		{"protocol version", "[protocol]\n\tversion = 2\n", hostConfig{true, true}},
		{"protocol allow", "[protocol]\n\tallow = user\n", hostConfig{true, false}},
		{"protocol file allow", "[protocol \"file\"]\n\tallow = never\n", hostConfig{true, false}},
		{"git proxy", "[core]\n\tgitProxy = proxy-cmd\n", hostConfig{true, false}},
		{"shared repository", "[core]\n\tsharedRepository = group\n", hostConfig{true, false}},
		{"global remote settings", "[remote \"origin\"]\n\tuploadpack = /opt/git-upload-pack\n", hostConfig{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := configPlain([]byte(tc.cfg)); got != tc.want {
				t.Errorf("configPlain(%q) = %+v, want %+v", tc.cfg, got, tc.want)
			}
			home := t.TempDir()
			os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(tc.cfg), 0o644)
			env := map[string]string{"HOME": home}
			if got := readHostConfig(func(k string) string { return env[k] }); got != tc.want {
				t.Errorf("readHostConfig with ~/.gitconfig %q = %+v, want %+v", tc.cfg, got, tc.want)
			}
		})
	}
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config", "git"), 0o755)
	os.WriteFile(filepath.Join(home, ".config", "git", "attributes"), []byte("* text=auto\n"), 0o644)
	if got := readHostConfig(func(k string) string { return map[string]string{"HOME": home}[k] }); got != (hostConfig{false, true}) {
		t.Errorf("a global attributes file: %+v", got)
	}
	if got := readHostConfig(func(k string) string { return map[string]string{"GIT_CONFIG_COUNT": "1"}[k] }); got != (hostConfig{}) {
		t.Errorf("configuration from the environment: %+v", got)
	}
	if got := readHostConfig(func(k string) string { return map[string]string{"GIT_ALLOW_PROTOCOL": "https"}[k] }); got != (hostConfig{true, false}) {
		t.Errorf("a protocol restriction from the environment: %+v", got)
	}
}

// rawTree writes a tree object with exactly the given entries (mode, name,
// hex id), in that order and with duplicates if asked: what a hostile
// upstream can publish and git mktree would refuse to make.
func rawTree(t *testing.T, gitDir string, entries [][3]string) string {
	t.Helper()
	var buf bytes.Buffer
	for _, e := range entries {
		id, err := hex.DecodeString(e[2])
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString(e[0] + " " + e[1] + "\x00")
		buf.Write(id)
	}
	cmd := exec.Command("git", "--git-dir", gitDir, "hash-object", "-t", "tree", "-w", "--literally", "--stdin")
	cmd.Stdin = &buf
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash-object: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// A hostile tree never makes the checkout write outside the layer: not
// through a symlink that a later entry of the same name would walk into,
// nor into a .git directory of any spelling.
func TestCheckoutHostileTrees(t *testing.T) {
	testenvGit(t)
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	os.MkdirAll(outside, 0o755)
	up := gittest.New(t, filepath.Join(root, "up"), "main")
	gitDir := filepath.Join(up.Dir, ".git")
	blob := func(content string) string {
		cmd := exec.Command("git", "--git-dir", gitDir, "hash-object", "-w", "--stdin")
		cmd.Stdin = strings.NewReader(content)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	payload := rawTree(t, gitDir, [][3]string{{"100644", "pwned", blob("owned\n")}})
	hook := rawTree(t, gitDir, [][3]string{{"100755", "post-checkout", blob("#!/bin/sh\ntouch " + outside + "/hook-ran\n")}})
	hooks := rawTree(t, gitDir, [][3]string{{"40000", "hooks", hook}})
	trees := map[string]string{
		"symlink then directory of the same name": rawTree(t, gitDir, [][3]string{
			{"120000", "a", blob(outside)}, {"40000", "a", payload},
		}),
		".git":      rawTree(t, gitDir, [][3]string{{"40000", ".git", hooks}}),
		".GIT":      rawTree(t, gitDir, [][3]string{{"40000", ".GIT", hooks}}),
		".git.":     rawTree(t, gitDir, [][3]string{{"40000", ".git.", hooks}}),
		"git~1":     rawTree(t, gitDir, [][3]string{{"40000", "git~1", hooks}}),
		"dot-dot":   rawTree(t, gitDir, [][3]string{{"40000", "..", payload}}),
		"backslash": rawTree(t, gitDir, [][3]string{{"100644", `..\..\pwned`, blob("x\n")}}),
	}
	for name, tree := range trees {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("git", "--git-dir", gitDir, "commit-tree", "-m", name, tree)
			cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b")
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			sha := strings.TrimSpace(string(out))
			dir := filepath.Join(root, "probe-"+strings.NewReplacer("/", "_", " ", "_").Replace(name))
			initRepo(dir, false, up.Dir)
			if err := checkoutFresh(context.Background(), gitDir, dir, sha); err == nil {
				t.Errorf("checkoutFresh accepted the tree")
			}
			gittest.Git(t, up.Dir, "update-ref", "refs/heads/hostile", sha)
			c := parse(t, filepath.Join(root, "work-"+filepath.Base(dir)), fmt.Sprintf("[[layer]]\nname = \"l\"\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n", up.Dir, sha))
			Sync(context.Background(), c, Options{}) // git refuses or writes inside: either way, nothing outside
			ents, _ := os.ReadDir(outside)
			for _, e := range ents {
				t.Errorf("written outside the layer: %s", e.Name())
			}
			if _, err := os.Stat(filepath.Join(root, "pwned")); err == nil {
				t.Errorf("written above the layer: pwned")
			}
		})
	}
}

// A cancelled checkout stops and says so.
func TestCheckoutFreshCancelled(t *testing.T) {
	testenvGit(t)
	root := t.TempDir()
	up, sha := plainUpstream(t, filepath.Join(root, "up"))
	dir := filepath.Join(root, "c")
	initRepo(dir, false, up.Dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := checkoutFresh(ctx, filepath.Join(up.Dir, ".git"), dir, sha); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled checkout: %v", err)
	}
}

// logGit puts a git on PATH that appends each command line to the file it
// returns, then runs the real git.
func logGit(t *testing.T) string {
	t.Helper()
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	log := filepath.Join(root, "git.log")
	os.WriteFile(filepath.Join(root, "git"), []byte("#!/bin/sh\necho \"$*\" >> "+log+"\nexec "+realGit+" \"$@\"\n"), 0o755)
	t.Setenv("PATH", root+":"+os.Getenv("PATH"))
	return log
}

// Sync writes a plain fresh checkout in process, with and without the
// store, and leaves a tree with attributes to git checkout: a git on PATH
// that logs its commands says which ran.
func TestSyncChecksOutInProcess(t *testing.T) {
	testenvGit(t)
	root := t.TempDir()
	home := filepath.Join(root, "home")
	os.MkdirAll(home, 0o755)
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	if !readHostConfig(os.Getenv).checkout {
		t.Skip("/etc/gitconfig changes checkouts here; the in-process checkout is not used on this host")
	}
	log := logGit(t)

	up, sha := plainUpstream(t, filepath.Join(root, "up"))
	attr := gittest.New(t, filepath.Join(root, "attr"), "main")
	attr.Commit(".gitattributes", "*.txt eol=crlf\n", "attributes")
	attrSha := attr.Commit("a.txt", "x\n", "text")
	layers := fmt.Sprintf("[[layer]]\nname = \"plain\"\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n\n[[layer]]\nname = \"attr\"\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n", up.Dir, sha, attr.Dir, attrSha)
	for _, mode := range []string{"no store", "store"} {
		t.Run(mode, func(t *testing.T) {
			os.Remove(log)
			text := layers
			if mode == "store" {
				text += fmt.Sprintf("\n[paths]\ngit_cache = %q\n", filepath.Join(root, "cache"))
			}
			c := parse(t, filepath.Join(root, "work-"+strings.ReplaceAll(mode, " ", "-")), text)
			res, err := Sync(context.Background(), c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(log)
			var checkouts []string
			for _, l := range strings.Split(string(data), "\n") {
				if strings.Contains(l, " checkout ") {
					checkouts = append(checkouts, l)
				}
			}
			if len(checkouts) != 1 || !strings.Contains(checkouts[0], attrSha) {
				t.Errorf("git checkout runs: %q; want exactly one, for the tree with attributes", checkouts)
			}
			if d := treetest.Diff(treetest.Snapshot(t, res[0].Dir, ".git"), treetest.Snapshot(t, up.Dir, ".git")); len(d) > 0 {
				t.Errorf("checkout differs from upstream (checkout | upstream):\n%s", strings.Join(d, "\n"))
			}
			if st := gittest.Git(t, res[0].Dir, "status", "--porcelain"); st != "" {
				t.Errorf("status: %s", st)
			}
		})
	}
}
