package buildbot

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func freePort6(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestMasterStartsOnIPv6 runs the real `buildbot start` (checkconfig alone
// accepted what start then refused) on a config listening on ::1, and
// checks what anyone reaching the web port gets: the index page (not a
// 500), the REST API, and no force build without a login.
func TestMasterStartsOnIPv6(t *testing.T) {
	requireBuildbot(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "master")
	run(t, filepath.Dir(dir), "buildbot", "create-master", "-r", "-q", dir)
	os.WriteFile(filepath.Join(dir, "force.passwd"), []byte("# who may force builds\nada:forcepw\n"), 0o600)
	cfg := openxtConfig()
	cfg.ChangeHookAuthFile, cfg.PBChangeUser, cfg.PBChangePassword = "", "", ""
	cfg.Listen = "::1"
	cfg.WorkerPort, cfg.WebPort = freePort6(t), freePort6(t)
	cfg.ForceAuthFile = "force.passwd"
	if err := Write(filepath.Join(dir, "master.cfg"), cfg); err != nil {
		t.Fatal(err)
	}
	if out, err := masterCommand(dir, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "twistd.log"))
		t.Fatalf("buildbot start: %v\n%s\ntwistd.log:\n%s", err, out, log)
	}
	t.Cleanup(func() { exec.Command("buildbot", "stop", dir).Run() })
	base := fmt.Sprintf("http://[::1]:%d", cfg.WebPort)

	get := func(c *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(http.DefaultClient, "/"); code != 200 || !strings.Contains(body, "api/v2") {
		t.Errorf("GET /: %d\n%s", code, body)
	}
	if code, body := get(http.DefaultClient, "/api/v2/builders"); code != 200 || !strings.Contains(body, `"name": "openxt"`) {
		t.Errorf("GET /api/v2/builders: %d\n%s", code, body)
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("[::1]:%d", cfg.WorkerPort)); err != nil {
		t.Errorf("worker port not listening on ::1: %v", err)
	}

	force := func(c *http.Client) (int, string) {
		t.Helper()
		body := `{"jsonrpc":"2.0","method":"force","id":1,"params":{"builderid":"1","reason":"test","owner":"t"}}`
		resp, err := c.Post(base+"/api/v2/forceschedulers/openxt-force", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	login := func(user, pass string) *http.Client {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		req, _ := http.NewRequest("GET", base+"/auth/login", nil)
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return c
	}
	if code, body := force(http.DefaultClient); code != 403 {
		t.Errorf("force build without login: %d, want 403\n%s", code, body)
	}
	if code, body := force(login("ada", "wrong")); code != 403 {
		t.Errorf("force build with a wrong password: %d, want 403\n%s", code, body)
	}
	if code, body := force(login("ada", "forcepw")); code != 200 || !strings.Contains(body, `"result"`) {
		t.Errorf("force build logged in: %d, want 200\n%s", code, body)
	}
}
