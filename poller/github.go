package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitHubRepo is the part of a GitHub API repository object the poller uses.
type GitHubRepo struct {
	Name     string `json:"name"`
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	SSHURL   string `json:"ssh_url"`
	Archived bool   `json:"archived"`
	Fork     bool   `json:"fork"`
}

// GitHubClient lists an organisation's repositories through the REST API,
// page by page following Link: rel="next", remembering ETags so an
// unchanged page costs a 304 (which GitHub does not count against the rate
// limit).
type GitHubClient struct {
	API    string // base URL, e.g. https://api.github.com
	Token  string // optional
	Client *http.Client

	mu    sync.Mutex
	cache map[string]cachedPage
}

type cachedPage struct {
	etag  string
	repos []GitHubRepo
	next  string
}

// RateLimitError says the API refused for the rate limit, and until when.
type RateLimitError struct{ Reset time.Time }

func (e *RateLimitError) Error() string {
	return "github api rate limit exceeded until " + e.Reset.Format(time.RFC3339)
}

// ListRepos returns every repository of an organisation (kind "org") or a
// user (kind "user").
func (g *GitHubClient) ListRepos(ctx context.Context, kind, name string) ([]GitHubRepo, error) {
	path := "/orgs/"
	if kind == "user" {
		path = "/users/"
	}
	next := strings.TrimRight(g.API, "/") + path + url.PathEscape(name) + "/repos?per_page=100"
	var all []GitHubRepo
	for pages := 0; next != ""; pages++ {
		if pages >= 1000 {
			return nil, fmt.Errorf("list repos of %s: more than 1000 pages", name)
		}
		repos, n, err := g.page(ctx, next)
		if err != nil {
			return nil, fmt.Errorf("list repos of %s: %w", name, err)
		}
		all = append(all, repos...)
		next = n
	}
	return all, nil
}

func (g *GitHubClient) page(ctx context.Context, u string) ([]GitHubRepo, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	g.mu.Lock()
	cached, haveCache := g.cache[u]
	g.mu.Unlock()
	if haveCache && cached.etag != "" {
		req.Header.Set("If-None-Match", cached.etag)
	}
	client := g.Client
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && haveCache:
		return cached.repos, cached.next, nil
	case (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) &&
		resp.Header.Get("X-RateLimit-Remaining") == "0":
		reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
		return nil, "", &RateLimitError{Reset: time.Unix(reset, 0)}
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, "", fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	var repos []GitHubRepo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&repos); err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", u, err)
	}
	// A one-page listing has no Link header at all (twobit crashed on that).
	next := nextLink(resp.Header.Values("Link"), u)
	g.mu.Lock()
	if g.cache == nil {
		g.cache = map[string]cachedPage{}
	}
	g.cache[u] = cachedPage{etag: resp.Header.Get("ETag"), repos: repos, next: next}
	g.mu.Unlock()
	return repos, next, nil
}

// nextLink finds rel="next" in RFC 8288 Link headers, resolved against base.
func nextLink(headers []string, base string) string {
	for _, h := range headers {
		for _, part := range strings.Split(h, ",") {
			segs := strings.Split(part, ";")
			target := strings.TrimSpace(segs[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range segs[1:] {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Contains(" "+strings.Trim(v, `"`)+" ", " next ") {
					ref, err := url.Parse(target[1 : len(target)-1])
					b, err2 := url.Parse(base)
					if err != nil || err2 != nil {
						return ""
					}
					return b.ResolveReference(ref).String()
				}
			}
		}
	}
	return ""
}

// orgRepos turns an organisation listing into repositories to poll,
// applying the fork/archive filters and the clone protocol.
func orgRepos(o OrgConfig, list []GitHubRepo) []RepoConfig {
	var out []RepoConfig
	for _, r := range list {
		if (r.Fork && !o.IncludeForks) || (r.Archived && !o.IncludeArchived) || !safeName(r.Name) {
			continue
		}
		u := r.CloneURL
		if o.Clone == "ssh" {
			u = r.SSHURL
		}
		if u == "" {
			continue
		}
		out = append(out, RepoConfig{
			Name:         o.Name + "/" + r.Name,
			URL:          u,
			GitDir:       o.BaseDir + string(os.PathSeparator) + r.Name + ".git",
			Projects:     o.Projects,
			Deliver:      o.Deliver,
			Mirror:       o.Mirror,
			PollInterval: o.PollInterval,
		})
	}
	return out
}

func readSecret(env, file string) (string, error) {
	if env != "" {
		if v := os.Getenv(env); v != "" {
			return v, nil
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}
