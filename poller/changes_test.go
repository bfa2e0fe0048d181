package poller

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	git "github.com/go-git/go-git/v5"
)

func TestChangesFollowGitBuildbot(t *testing.T) {
	dir := t.TempDir()
	base := newUpstream(t, dir)
	c1 := commit(t, dir, "add a\n\nbody text", map[string]string{"a.txt": "a\n"})
	c2 := commit(t, dir, "add b and sub/c", map[string]string{"b.txt": "b\n", "sub/c.txt": "c\n"})
	gitc(t, dir, "checkout", "-q", "-b", "topic", base)
	t1 := commit(t, dir, "topic work", map[string]string{"t.txt": "t\n"})
	gitc(t, dir, "checkout", "-q", "master")
	gitc(t, dir, "merge", "-q", "--no-ff", "-m", "merge topic", "topic")
	merge := gitc(t, dir, "rev-parse", "HEAD")
	gitc(t, dir, "tag", "-a", "-m", "v1", "v1")
	tagObj := gitc(t, dir, "rev-parse", "refs/tags/v1")
	// A rewound branch: "rw" at c2, force-moved to a new commit on c1.
	gitc(t, dir, "checkout", "-q", "-b", "rw", c1)
	r1 := commit(t, dir, "rewritten", map[string]string{"a.txt": "A\n"})
	gitc(t, dir, "checkout", "-q", "master")

	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	heads := Refs{"refs/heads/master": merge, "refs/heads/topic": t1, "refs/heads/rw": r1}
	type ch struct {
		rev, branch, comments string
		files                 []string
	}
	tests := []struct {
		name string
		ev   Event
		want []ch
	}{
		{"update, oldest first", Event{base, c2, "refs/heads/master"}, []ch{
			{c1, "master", "add a\n\nbody text", []string{"a.txt"}},
			{c2, "master", "add b and sub/c", []string{"b.txt", "sub/c.txt"}}}},
		{"merge adds its marker", Event{c2, merge, "refs/heads/master"}, []ch{
			{t1, "master", "topic work", []string{"t.txt"}},
			{merge, "master", "merge topic", []string{"t.txt", "merge"}}}},
		{"new branch: only commits on no other branch", Event{ZeroRev, r1, "refs/heads/rw"}, []ch{
			{r1, "rw", "rewritten", []string{"a.txt"}}}},
		{"force push: rewind then new commits", Event{c2, r1, "refs/heads/rw"}, []ch{
			{c1, "rw", "Rewind branch", []string{"b.txt", "sub/c.txt"}},
			{r1, "rw", "rewritten", []string{"a.txt"}}}},
		{"new annotated tag: one change, branch is the tag", Event{ZeroRev, tagObj, "refs/tags/v1"}, []ch{
			{merge, "v1", "merge topic", []string{"t.txt", "merge"}}}},
		{"deleted branch: nothing", Event{c2, ZeroRev, "refs/heads/master"}, nil},
		{"moved tag: nothing", Event{tagObj, c1, "refs/tags/v1"}, nil},
		{"other refs: nothing", Event{ZeroRev, c1, "refs/notes/x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Changes(context.Background(), repo, tt.ev, heads, 100)
			if err != nil {
				t.Fatal(err)
			}
			var gotc []ch
			for _, c := range got {
				gotc = append(gotc, ch{c.Revision, c.Branch, c.Comments, c.Files})
				if c.Comments != "Rewind branch" && (c.Author != "Ada Author <ada@example.org>" || c.When.IsZero()) {
					t.Errorf("%s: author %q when %v", c.Revision, c.Author, c.When)
				}
			}
			if !slices.EqualFunc(gotc, tt.want, func(a, b ch) bool {
				return a.rev == b.rev && a.branch == b.branch && a.comments == b.comments && slices.Equal(a.files, b.files)
			}) {
				t.Fatalf("changes = %+v\nwant %+v", gotc, tt.want)
			}
		})
	}
}

func TestChangeHookPostsBaseDialect(t *testing.T) {
	root := t.TempDir()
	up := filepath.Join(root, "up")
	newUpstream(t, up)
	var mu sync.Mutex
	var forms []url.Values
	fail := 2 // the first two requests fail: the change must still arrive once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		if !ok || user != "poller" || pw != "hunter2" || r.URL.Path != "/change_hook/base" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			http.Error(w, "master restarting", http.StatusServiceUnavailable)
			return
		}
		forms = append(forms, r.PostForm)
		w.Write([]byte("1 change found"))
	}))
	defer srv.Close()
	t.Setenv("XT_TEST_HOOK_PW", "hunter2")
	cfg := validated(t, &Config{BaseDir: filepath.Join(root, "m"),
		Repos: []RepoConfig{{URL: up, Projects: []string{"p1", "p2"}}},
		ChangeHooks: []ChangeHookConfig{{Name: "bb", URL: srv.URL + "/change_hook/base", User: "poller",
			PasswordEnv: "XT_TEST_HOOK_PW", Category: "poller", Retries: 3, RetryDelay: Duration(1)}}})
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mustCycle(t, p)
	c1 := commit(t, up, "first line\n\nsecond para", map[string]string{"x/y.c": "int x;\n"})
	if res := mustCycle(t, p); res.Events != 1 || res.Failed != 0 {
		t.Fatalf("cycle = %+v", res)
	}
	mustCycle(t, p)
	if len(forms) != 2 {
		t.Fatalf("%d changes posted, want 2 (one per project)", len(forms))
	}
	for i, f := range forms {
		var files []string
		json.Unmarshal([]byte(f.Get("files")), &files)
		want := map[string]string{"revision": c1, "branch": "master", "repository": up, "project": []string{"p1", "p2"}[i],
			"author": "Ada Author <ada@example.org>", "comments": "first line\n\nsecond para", "category": "poller"}
		for k, v := range want {
			if f.Get(k) != v {
				t.Errorf("post %d: %s = %q, want %q", i, k, f.Get(k), v)
			}
		}
		if !slices.Equal(files, []string{"x/y.c"}) || !strings.HasPrefix(f.Get("when_timestamp"), "17") {
			t.Errorf("post %d: files %v when %q", i, files, f.Get("when_timestamp"))
		}
	}
}
