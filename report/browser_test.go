package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// chromium finds Debian's chromium. CI installs it, so there a missing
// browser is a failure; elsewhere the test skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium not found (apt-get install chromium)")
	return ""
}

// runChromium runs headless Chromium on a local file with a throwaway
// profile and everything that could reach the network turned off.
//
// JavaScript: --blink-settings=scriptEnabled=false would be the obvious
// switch, but Chromium's new headless mode (the only one since 132) runs
// --dump-dom and --screenshot through script evaluation, so with it both
// silently produce nothing. The page instead forbids every script through its
// own Content-Security-Policy; TestPageRunsNoScript proves Chromium enforces
// that, so what is checked here is the page as rendered with scripts off.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--disable-dev-shm-usage", // containers often have a tiny /dev/shm
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, lastLines(stderr.String(), 20))
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func writePage(t *testing.T, fixture string) (*Report, string) {
	t.Helper()
	r := one(t, fixture, true)
	dir := t.TempDir()
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}
	return r, filepath.Join(dir, IndexFile)
}

var (
	barRe  = regexp.MustCompile(`<rect class="bar [^"]*"`)
	critRe = regexp.MustCompile(`<tr class="crit">`)
)

// TestBrowserRendersReport loads the failed fixture's page in Chromium and
// checks the DOM Chromium built: one bar per task file, the critical path's
// bars and rows highlighted, the failed task marked. The screenshot must show
// the highlight colours; it is kept in the test's temp dir.
func TestBrowserRendersReport(t *testing.T) {
	bin := chromium(t)
	r, page := writePage(t, "failed")
	dom := string(runChromium(t, bin, "--dump-dom", "file://"+page))

	bars := barRe.FindAllString(dom, -1)
	if len(bars) != 10 || len(bars) != len(r.Tasks) {
		t.Fatalf("%d bars in the SVG, fixture has 10 task files", len(bars))
	}
	var crit, failed int
	for _, b := range bars {
		if strings.Contains(b, " crit") {
			crit++
		}
		if strings.Contains(b, " failed") {
			failed++
		}
	}
	if crit != 8 || crit != len(r.Critical.Tasks) || critRe.FindAllStringIndex(dom, -1) == nil || len(critRe.FindAllStringIndex(dom, -1)) != 8 {
		t.Errorf("%d critical bars, %d critical rows; want 8 each", crit, len(critRe.FindAllStringIndex(dom, -1)))
	}
	if !strings.Contains(dom, `<polyline class="critline"`) {
		t.Error("critical path line missing")
	}
	if failed != 1 || !strings.Contains(dom, `class="failmark"`) || !strings.Contains(dom, "Failed: <b>busybox-1.36.1-r0 do_compile</b>") {
		t.Errorf("failed task not marked (%d failed bars)", failed)
	}
	if !strings.Contains(dom, "<title>busybox-1.36.1-r0 do_compile\n18.0s wall, CPU 27.0s (1.50 cores)") {
		t.Error("hover text of the failed task missing or wrong")
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, bin, "--window-size=1400,1200", "--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	count := func(cr, cg, cb uint32) int {
		n := 0
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if absDiff(r>>8, cr) < 12 && absDiff(g>>8, cg) < 12 && absDiff(bl>>8, cb) < 12 {
					n++
				}
			}
		}
		return n
	}
	// critColour #c2185b and failedColour #d62728.
	if n := count(0xc2, 0x18, 0x5b); n < 300 {
		t.Errorf("only %d pixels of the critical-path colour on the screenshot", n)
	}
	if n := count(0xd6, 0x27, 0x28); n < 100 {
		t.Errorf("only %d pixels of the failure colour on the screenshot", n)
	}
	t.Logf("screenshot: %s", shot)
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestPageRunsNoScript: the page's Content-Security-Policy stops any script,
// so the page is what a browser with JavaScript off shows. A script slipped
// into a copy of the page must not run in Chromium.
func TestPageRunsNoScript(t *testing.T) {
	bin := chromium(t)
	_, page := writePage(t, "complete")
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", " onload=", " onclick=", "javascript:", "http://", "https://"} {
		if bytes.Contains(data, []byte(bad)) {
			t.Errorf("page contains %q", bad)
		}
	}
	evil := filepath.Join(t.TempDir(), "evil.html")
	tampered := strings.Replace(string(data), "</body>", `<script>document.body.innerHTML="SCRIPT RAN"</script></body>`, 1)
	if err := os.WriteFile(evil, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(runChromium(t, bin, "--dump-dom", "file://"+evil))
	if n := len(barRe.FindAllString(dom, -1)); n != 16 || strings.Contains(dom, "<body>SCRIPT RAN") {
		t.Fatalf("the injected script ran (%d bars left)", n)
	}
	// Control: without the policy the same script does run, so the check above can fail.
	unguarded := strings.Replace(tampered, "<meta http-equiv=\"Content-Security-Policy\"", "<meta name=\"x\"", 1)
	if err := os.WriteFile(evil, []byte(unguarded), 0o644); err != nil {
		t.Fatal(err)
	}
	dom = string(runChromium(t, bin, "--dump-dom", "file://"+evil))
	if !strings.Contains(dom, "SCRIPT RAN") || len(barRe.FindAllString(dom, -1)) != 0 {
		t.Fatal("control failed: without the policy the script should have replaced the page")
	}
}

// TestBrowserRendersWorkerBands: the fan-out fixture's page in Chromium has
// every task's bar, one labelled band per worker and the critical path
// drawn across both bands.
func TestBrowserRendersWorkerBands(t *testing.T) {
	bin := chromium(t)
	r := generate(t, fanoutOptions(t))
	dir := t.TempDir()
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}
	dom := string(runChromium(t, bin, "--dump-dom", "file://"+filepath.Join(dir, IndexFile)))
	if n := len(barRe.FindAllString(dom, -1)); n != 23 || n != len(r.Tasks) {
		t.Fatalf("%d bars, fixture has 23 task files", n)
	}
	for _, s := range []string{`id="worker-1"`, `id="worker-2"`, "worker worker-b: installer", `<table id="workers">`, `<polyline class="critline"`} {
		if !strings.Contains(dom, s) {
			t.Errorf("rendered page lacks %q", s)
		}
	}
	var crit int
	for _, b := range barRe.FindAllString(dom, -1) {
		if strings.Contains(b, " crit") {
			crit++
		}
	}
	if crit != 10 {
		t.Errorf("%d critical bars, want 10", crit)
	}
}
