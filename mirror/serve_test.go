package mirror

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

const secret = "root:x:0:0:SECRET-OUTSIDE-THE-MIRROR\n"

// serveFixture is a mirror next to a file that must never be served, with
// the odd entries a mirror directory can hold.
type serveFixture struct {
	dir  string // the mirror
	url  string // base URL, ending in /
	big  []byte // big.tar.gz
	addr string
}

func startServer(t *testing.T) *serveFixture {
	t.Helper()
	base := t.TempDir()
	mir := filepath.Join(base, "mirror")
	big := content("big", 3<<20+5)
	for name, data := range map[string][]byte{
		"big.tar.gz":              big,
		"small.txt":               []byte("0123456789abcdefghij"),
		"sub/dir/file.zip":        []byte("inside a subdirectory"),
		".xtbuild-mirror.lock":    nil,
		".big.tar.gz.tmp-1234567": []byte("partial"),
		"%2e%2e/literal":          []byte("a directory literally named %2e%2e"),
	} {
		p := filepath.Join(mir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(base, "passwd"), []byte(secret), 0o644)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("../passwd", filepath.Join(mir, "escape-relative")))
	must(os.Symlink(filepath.Join(base, "passwd"), filepath.Join(mir, "escape-absolute")))
	must(os.Symlink(base, filepath.Join(mir, "escape-dir")))
	must(os.Symlink("small.txt", filepath.Join(mir, "alias.txt")))            // inside → inside: served
	must(os.Symlink("../../small.txt", filepath.Join(mir, "sub/dir/up.txt"))) // climbs, stays inside: served
	must(syscall.Mkfifo(filepath.Join(mir, "fifo"), 0o644))
	must((Index{"big.tar.gz": sum(big)}).Write(mir))

	srv, err := Listen(mir, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &serveFixture{dir: mir, url: srv.URL(), big: big, addr: srv.Addr().String()}
}

// raw sends one request line exactly as given (clients normalise paths) and
// returns the status code and body.
func raw(t *testing.T, addr, method, target string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: mirror\r\nConnection: close\r\n\r\n", method, target)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var traversalTargets = []struct {
	target string
	status int
}{
	{"/../passwd", 400},
	{"/../../../../etc/passwd", 400},
	{"/sub/../../passwd", 400},
	{"/%2e%2e/passwd", 400},
	{"/%2E%2E/passwd", 400},
	{"/.%2e/passwd", 400},
	{"/..%2fpasswd", 400},
	{"/..%2Fpasswd", 400},
	{"/..%5cpasswd", 400},
	{"/..\\passwd", 400},
	{"/sub%2fdir%2ffile.zip", 400},
	{"/%2e%2e%2fpasswd", 400},
	{"/%252e%252e/passwd", 404}, // double-encoded: a literal name that does not exist
	{"/%252e%252e%252fpasswd", 404},
	{"/./small.txt", 400},
	{"//etc/passwd", 404},
	{"/%2fetc/passwd", 400},
	{"/escape-relative", 404},
	{"/escape-absolute", 404},
	{"/escape-dir/passwd", 404},
	{"/small.txt%00.zip", 400},
	{"http://mirror/../passwd", 400}, // absolute-form request target
}

func TestServeTraversal(t *testing.T) {
	f := startServer(t)
	for _, tc := range traversalTargets {
		t.Run(tc.target, func(t *testing.T) {
			for _, m := range []string{"GET", "HEAD"} {
				code, body := raw(t, f.addr, m, tc.target)
				if code != tc.status {
					t.Errorf("%s %s: status %d, want %d", m, tc.target, code, tc.status)
				}
				if strings.Contains(body, "SECRET") {
					t.Fatalf("%s %s served a file outside the mirror", m, tc.target)
				}
			}
		})
	}
}

func TestServeFiles(t *testing.T) {
	f := startServer(t)
	cases := []struct {
		target string
		status int
		body   string
	}{
		{"/small.txt", 200, "0123456789abcdefghij"},
		{"/sub/dir/file.zip", 200, "inside a subdirectory"},
		{"/alias.txt", 200, "0123456789abcdefghij"},      // symlink inside → inside
		{"/sub/dir/up.txt", 200, "0123456789abcdefghij"}, // climbs but stays inside
		{"/%252e%252e/literal", 200, "a directory literally named %2e%2e"},
		{"/" + IndexName, 200, sum(f.big) + "  big.tar.gz\n"},
		{"/", 404, ""},
		{"/sub", 404, ""},
		{"/sub/", 404, ""},
		{"/sub/dir/", 404, ""},
		{"/missing.tar.gz", 404, ""},
		{"/.xtbuild-mirror.lock", 404, ""},
		{"/.big.tar.gz.tmp-1234567", 404, ""},
		{"/fifo", 404, ""}, // must answer, not hang
	}
	for _, tc := range cases {
		code, body := raw(t, f.addr, "GET", tc.target)
		if code != tc.status {
			t.Errorf("GET %s: status %d, want %d", tc.target, code, tc.status)
		}
		if tc.status == 200 && body != tc.body {
			t.Errorf("GET %s: body %q, want %q", tc.target, body, tc.body)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		if code, _ := raw(t, f.addr, m, "/small.txt"); code != 405 {
			t.Errorf("%s: status %d, want 405", m, code)
		}
	}
}

func TestServeGoClient(t *testing.T) {
	f := startServer(t)
	c := &http.Client{Timeout: 20 * time.Second}
	size := int64(len(f.big))

	resp, err := c.Get(f.url + "big.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, f.big) || resp.ContentLength != size {
		t.Fatalf("GET: status %d, %d bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Content-Encoding") != "" || resp.Uncompressed {
		t.Error(".gz served with a content encoding")
	}
	etag := resp.Header.Get("ETag")

	head, err := c.Head(f.url + "big.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 || head.ContentLength != size || head.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: %d, length %d, Accept-Ranges %q", head.StatusCode, head.ContentLength, head.Header.Get("Accept-Ranges"))
	}

	ranges := []struct {
		spec       string
		start, end int64 // inclusive
	}{
		{"bytes=0-0", 0, 0},
		{"bytes=0-99", 0, 99},
		{"bytes=1048576-2097151", 1 << 20, 2<<20 - 1},
		{"bytes=-100", size - 100, size - 1}, // suffix
		{"bytes=3145000-", 3145000, size - 1},
		{fmt.Sprintf("bytes=%d-%d", size-10, size+1000), size - 10, size - 1}, // clipped
	}
	for _, r := range ranges {
		req, _ := http.NewRequest("GET", f.url+"big.tar.gz", nil)
		req.Header.Set("Range", r.spec)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := f.big[r.start : r.end+1]
		cr := fmt.Sprintf("bytes %d-%d/%d", r.start, r.end, size)
		if resp.StatusCode != 206 || !bytes.Equal(got, want) || resp.ContentLength != int64(len(want)) || resp.Header.Get("Content-Range") != cr {
			t.Errorf("%s: status %d, %d bytes, Content-Length %d, Content-Range %q; want 206, %d bytes, %q",
				r.spec, resp.StatusCode, len(got), resp.ContentLength, resp.Header.Get("Content-Range"), len(want), cr)
		}
	}

	// Several ranges come back as multipart/byteranges.
	req, _ := http.NewRequest("GET", f.url+"big.tar.gz", nil)
	req.Header.Set("Range", "bytes=0-9,100-199,-5")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || mt != "multipart/byteranges" {
		t.Fatalf("multi-range: %d %q", resp.StatusCode, mt)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	wantParts := [][2]int64{{0, 9}, {100, 199}, {size - 5, size - 1}}
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			if i != len(wantParts) {
				t.Errorf("multi-range: %d parts, want %d", i, len(wantParts))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(p)
		w := wantParts[i]
		if !bytes.Equal(got, f.big[w[0]:w[1]+1]) || p.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", w[0], w[1], size) {
			t.Errorf("part %d: %d bytes, Content-Range %q", i, len(got), p.Header.Get("Content-Range"))
		}
	}
	resp.Body.Close()

	// Past the end: 416 with the size.
	req, _ = http.NewRequest("GET", f.url+"big.tar.gz", nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", size))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Errorf("unsatisfiable range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}

	// If-Range with the current ETag resumes; with a stale one sends all.
	for _, tc := range []struct {
		ifRange string
		status  int
	}{{etag, 206}, {`"stale"`, 200}} {
		req, _ = http.NewRequest("GET", f.url+"big.tar.gz", nil)
		req.Header.Set("Range", "bytes=100-")
		req.Header.Set("If-Range", tc.ifRange)
		resp, err = c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("If-Range %s: %d, want %d", tc.ifRange, resp.StatusCode, tc.status)
		}
	}
	resp, err = c.Get(f.url + "nope.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
}

// curl is what users and scripts on other hosts run against the mirror.
func TestServeCurl(t *testing.T) {
	testenv.LookPath(t, "curl", "curl")
	f := startServer(t)
	out := t.TempDir()
	curl := func(args ...string) (code string, body []byte) {
		t.Helper()
		file := filepath.Join(out, "body")
		os.Remove(file)
		cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "20", "-o", file, "-w", "%{http_code}"}, args...)...)
		o, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		body, _ = os.ReadFile(file)
		return string(o), body
	}
	size := len(f.big)

	if code, body := curl(f.url + "big.tar.gz"); code != "200" || !bytes.Equal(body, f.big) {
		t.Errorf("download: %s, %d bytes", code, len(body))
	}
	for _, r := range []struct {
		arg        string
		start, end int
	}{
		{"0-99", 0, 99},
		{"-100", size - 100, size - 1},
		{"3000000-", 3000000, size - 1},
	} {
		code, body := curl("-r", r.arg, f.url+"big.tar.gz")
		if code != "206" || !bytes.Equal(body, f.big[r.start:r.end+1]) {
			t.Errorf("-r %s: %s, %d bytes", r.arg, code, len(body))
		}
	}
	// Multi-range: curl saves the multipart body as is.
	if code, body := curl("-r", "0-4,10-14", f.url+"small.txt"); code != "206" ||
		!bytes.Contains(body, []byte("01234")) || !bytes.Contains(body, []byte("abcde")) || !bytes.Contains(body, []byte("multipart")) && !bytes.Contains(body, []byte("Content-Range")) {
		t.Errorf("multi-range: %s %q", code, body)
	}
	// Resume a partial download with -C -.
	part := filepath.Join(out, "resume")
	os.WriteFile(part, f.big[:12345], 0o644)
	if o, err := exec.Command("curl", "-sS", "--max-time", "20", "-C", "-", "-o", part, f.url+"big.tar.gz").CombinedOutput(); err != nil {
		t.Fatalf("curl -C -: %v %s", err, o)
	}
	if got, _ := os.ReadFile(part); !bytes.Equal(got, f.big) {
		t.Error("resumed download differs")
	}
	// HEAD reports the length.
	o, err := exec.Command("curl", "-sS", "-I", f.url+"big.tar.gz").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bytes.ToLower(o), []byte(fmt.Sprintf("content-length: %d", size))) {
		t.Errorf("HEAD:\n%s", o)
	}
	if code, _ := curl(f.url + "missing"); code != "404" {
		t.Errorf("missing: %s", code)
	}
	for _, tc := range traversalTargets {
		if strings.HasPrefix(tc.target, "http:") || strings.Contains(tc.target, "\\") {
			continue
		}
		code, body := curl("--path-as-is", strings.TrimSuffix(f.url, "/")+tc.target)
		if code != fmt.Sprint(tc.status) || bytes.Contains(body, []byte("SECRET")) {
			t.Errorf("curl --path-as-is %s: %s %q, want %d", tc.target, code, body, tc.status)
		}
	}
}
