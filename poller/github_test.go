package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeGitHub serves GET /orgs/{org}/repos like the GitHub REST API: pages of
// pageSize with RFC 8288 Link headers (none on a single page), ETags with
// 304 answers, and a bearer token check when token is set.
type fakeGitHub struct {
	org      string
	repos    []GitHubRepo
	pageSize int
	token    string
	requests atomic.Int64
	notMod   atomic.Int64
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.URL.Path != "/orgs/"+f.org+"/repos" {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("per_page") != "100" {
		http.Error(w, "client must ask for per_page=100", http.StatusBadRequest)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	last := (len(f.repos) + f.pageSize - 1) / f.pageSize
	lo, hi := (page-1)*f.pageSize, min(page*f.pageSize, len(f.repos))
	body, _ := json.Marshal(f.repos[lo:hi])
	etag := fmt.Sprintf(`"%x-%d"`, len(body), page)
	if r.Header.Get("If-None-Match") == etag {
		f.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	link := func(p int, rel string) string {
		return fmt.Sprintf(`<http://%s/orgs/%s/repos?per_page=100&page=%d>; rel="%s"`, r.Host, f.org, p, rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func TestGitHubOrgWalk(t *testing.T) {
	root := t.TempDir()
	gh := &fakeGitHub{org: "openxt", pageSize: 3, token: "s3cret"}
	for i := range 8 {
		up := filepath.Join(root, "gh", fmt.Sprintf("r%d", i))
		newUpstream(t, up)
		gh.repos = append(gh.repos, GitHubRepo{Name: fmt.Sprintf("r%d", i), CloneURL: up, SSHURL: "git@example.invalid:x.git"})
	}
	gh.repos[6].Fork = true
	gh.repos[7].Archived = true
	gh.repos = append(gh.repos, GitHubRepo{Name: "..", CloneURL: "/etc"}) // hostile name: ignored
	srv := httptest.NewServer(gh)
	defer srv.Close()
	t.Setenv("XT_TEST_GH_TOKEN", "s3cret")

	log := filepath.Join(root, "hook.log")
	cfg := validated(t, &Config{BaseDir: filepath.Join(root, "mirrors"),
		Orgs:  []OrgConfig{{Name: "openxt", API: srv.URL, TokenEnv: "XT_TEST_GH_TOKEN", Projects: []string{"openxt"}}},
		Hooks: []HookConfig{{Name: "rec", Command: []string{recordingHook(t, root, log), "{project}"}}}})
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	res := mustCycle(t, p)
	if res.Cloned != 6 || res.Failed != 0 {
		t.Fatalf("cycle = %+v, want 6 clones (forks, archived and bad names skipped)", res)
	}
	var names []string
	for _, r := range p.Repos() {
		names = append(names, r.Name)
		if filepath.Dir(r.GitDir) != filepath.Join(cfg.BaseDir, "openxt") {
			t.Errorf("%s mirrored to %s", r.Name, r.GitDir)
		}
	}
	if want := []string{"openxt/r0", "openxt/r1", "openxt/r2", "openxt/r3", "openxt/r4", "openxt/r5"}; !slices.Equal(names, want) {
		t.Fatalf("repos = %v, want %v", names, want)
	}
	if n := gh.requests.Load(); n != 3 {
		t.Fatalf("%d API requests for 9 repos at 3 per page, want 3", n)
	}

	// A second walk costs only 304s, and repo r4 leaving the org stops its polling.
	c := commit(t, filepath.Join(root, "gh", "r1"), "org change", nil)
	mustCycle(t, p)
	if gh.notMod.Load() != 3 {
		t.Fatalf("second walk: %d 304 answers, want 3", gh.notMod.Load())
	}
	if got := strings.Join(readLines(t, log), "\n"); !strings.Contains(got, "openxt/r1|openxt|") || !strings.Contains(got, c) {
		t.Fatalf("hook log %q lacks the org repo's change", got)
	}
	gh.repos = slices.Delete(gh.repos, 4, 5)
	mustCycle(t, p)
	if n := len(p.Repos()); n != 5 {
		t.Fatalf("after a repo left the org: %d repos polled, want 5", n)
	}
}

func TestGitHubListRepos(t *testing.T) {
	tests := []struct {
		name     string
		repos    int
		pageSize int
		token    string
		wantReq  int
	}{
		{"one page, no Link header", 2, 100, "", 1},
		{"exact pages", 6, 3, "", 2},
		{"many pages with token", 250, 100, "tok", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := &fakeGitHub{org: "acme", pageSize: tt.pageSize, token: tt.token}
			for i := range tt.repos {
				gh.repos = append(gh.repos, GitHubRepo{Name: fmt.Sprint("r", i), CloneURL: fmt.Sprint("https://example.org/r", i)})
			}
			srv := httptest.NewServer(gh)
			defer srv.Close()
			c := &GitHubClient{API: srv.URL, Token: tt.token}
			got, err := c.ListRepos(context.Background(), "org", "acme")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.repos || int(gh.requests.Load()) != tt.wantReq {
				t.Fatalf("got %d repos in %d requests, want %d in %d", len(got), gh.requests.Load(), tt.repos, tt.wantReq)
			}
		})
	}
}

func TestGitHubErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "limited") {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", "4102444800")
			http.Error(w, `{"message":"API rate limit exceeded"}`, http.StatusForbidden)
			return
		}
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}))
	defer srv.Close()
	c := &GitHubClient{API: srv.URL}
	_, err := c.ListRepos(context.Background(), "org", "limited")
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Reset.Year() != 2100 {
		t.Fatalf("rate limit: err = %v", err)
	}
	if _, err := c.ListRepos(context.Background(), "org", "missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing org: err = %v", err)
	}
}

func TestNextLink(t *testing.T) {
	base := "https://api.example/orgs/x/repos?per_page=100"
	tests := []struct {
		headers []string
		want    string
	}{
		{nil, ""},
		{[]string{`<https://api.example/r?page=2>; rel="next", <https://api.example/r?page=5>; rel="last"`}, "https://api.example/r?page=2"},
		{[]string{`<https://api.example/r?page=1>; rel="prev"`}, ""},
		{[]string{`</orgs/x/repos?page=3>; rel=next`}, "https://api.example/orgs/x/repos?page=3"},
	}
	for _, tt := range tests {
		if got := nextLink(tt.headers, base); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.headers, got, tt.want)
		}
	}
}
