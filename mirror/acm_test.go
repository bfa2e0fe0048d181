package mirror

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// Stand-ins for Intel's SINIT ACM zips: the real ones sit behind a
// click-through licence, which is the point of this feature.
var (
	acmA = content("SINIT ACM for 4th gen Core", 40000)
	acmB = content("SINIT ACM for Xeon E7", 30000)
)

const acmSource = "https://www.intel.com/content/www/us/en/developer/articles/tool/intel-trusted-execution-technology.html"

// acmConfig loads a real configuration (the built-in profile plus a file)
// with two [[acm]] entries, its paths in a temporary directory.
func acmConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`
[paths]
downloads = "dl"
mirror = "srcmirror"

[[acm]]
name = "4th_gen_i5_i7_SINIT_75.zip"
sha256 = "%s"
source = "%s"

[[acm]]
name = "xeon-e7-8800-4800-2800-sinit-v1.1.zip"
sha256 = "%s"
source = "%s"
`, sum(acmA), acmSource, sum(acmB), acmSource)
	c, err := config.Parse(filepath.Join(dir, "xtbuild.toml"), []byte(src), dir, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	os.MkdirAll(c.Abs(c.Paths.Downloads), 0o755)
	return c
}

func TestCheckACMsMissing(t *testing.T) {
	c := acmConfig(t)
	err := CheckACMs(c)
	if err == nil {
		t.Fatal("preflight passed with no ACM anywhere")
	}
	if exitcode.Of(err) != exitcode.Failure {
		t.Errorf("exit code %d, want 1", exitcode.Of(err))
	}
	msg := err.Error()
	for _, want := range []string{
		"2 license-walled file(s) missing",
		"4th_gen_i5_i7_SINIT_75.zip", "xeon-e7-8800-4800-2800-sinit-v1.1.zip",
		"get it from: " + acmSource,
		"expected sha256: " + sum(acmA), "expected sha256: " + sum(acmB),
		"mage mirror:add",
		c.Abs(c.Paths.Mirror), c.Abs(c.Paths.Downloads),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}

	// One in DL_DIR (where an earlier build fetched it), one in the mirror.
	os.WriteFile(filepath.Join(c.Abs(c.Paths.Downloads), "4th_gen_i5_i7_SINIT_75.zip"), acmA, 0o644)
	err = CheckACMs(c)
	if err == nil || strings.Contains(err.Error(), "4th_gen") || !strings.Contains(err.Error(), "1 license-walled") {
		t.Fatalf("after DL_DIR copy: %v", err)
	}
	os.MkdirAll(c.Abs(c.Paths.Mirror), 0o755)
	os.WriteFile(filepath.Join(c.Abs(c.Paths.Mirror), "xeon-e7-8800-4800-2800-sinit-v1.1.zip"), acmB, 0o644)
	if err := CheckACMs(c); err != nil {
		t.Fatalf("all present: %v", err)
	}

	// A wrong copy does not count, and the message says what was found.
	os.WriteFile(filepath.Join(c.Abs(c.Paths.Mirror), "xeon-e7-8800-4800-2800-sinit-v1.1.zip"), acmA, 0o644)
	err = CheckACMs(c)
	if err == nil || !strings.Contains(err.Error(), "found a wrong copy: "+filepath.Join(c.Abs(c.Paths.Mirror), "xeon-e7-8800-4800-2800-sinit-v1.1.zip")+" has sha256 "+sum(acmA)) {
		t.Fatalf("wrong copy: %v", err)
	}
}

func TestCheckACMsNoneConfigured(t *testing.T) {
	c := acmConfig(t)
	c.ACMs = nil
	if err := CheckACMs(c); err != nil {
		t.Fatal(err)
	}
}

func TestAddACM(t *testing.T) {
	ctx := context.Background()
	c := acmConfig(t)
	dl := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dl, name)
		os.WriteFile(p, data, 0o644)
		return p
	}

	// Saved under its own name.
	a, err := AddACM(ctx, c, write("4th_gen_i5_i7_SINIT_75.zip", acmA))
	if err != nil || a.Name != "4th_gen_i5_i7_SINIT_75.zip" {
		t.Fatalf("add: %v %v", a, err)
	}
	// Saved by a browser under another name: matched by content, filed
	// under the configured name.
	var out bytes.Buffer
	if err := RunAdd(ctx, c, write("sinit(1).zip", acmB), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "as xeon-e7-8800-4800-2800-sinit-v1.1.zip") {
		t.Errorf("output %q", out.String())
	}
	mir := c.Abs(c.Paths.Mirror)
	for name, data := range map[string][]byte{"4th_gen_i5_i7_SINIT_75.zip": acmA, "xeon-e7-8800-4800-2800-sinit-v1.1.zip": acmB} {
		got, err := os.ReadFile(filepath.Join(mir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s not filed: %v", name, err)
		}
	}
	if rep, err := Verify(ctx, mir); err != nil || rep.Files != 2 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if err := CheckACMs(c); err != nil {
		t.Errorf("preflight after add: %v", err)
	}

	// Wrong bytes under a configured name: refused, nothing replaced.
	_, err = AddACM(ctx, c, write("4th_gen_i5_i7_SINIT_75.zip", append([]byte("tampered"), acmA...)))
	if err == nil || exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "must have "+sum(acmA)) {
		t.Fatalf("tampered file: %v (code %d)", err, exitcode.Of(err))
	}
	if got, _ := os.ReadFile(filepath.Join(mir, "4th_gen_i5_i7_SINIT_75.zip")); !bytes.Equal(got, acmA) {
		t.Error("a tampered file replaced the good one")
	}
	// Unknown file and missing file: usage errors.
	if _, err := AddACM(ctx, c, write("random.zip", []byte("?"))); exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "matches no [[acm]] entry") {
		t.Errorf("unknown file: %v", err)
	}
	if _, err := AddACM(ctx, c, filepath.Join(dl, "absent.zip")); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("absent file: %v", err)
	}
	if err := RunAdd(ctx, c, dl, &out); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("directory: %v", err)
	}
	if rep, err := Verify(ctx, mir); err != nil || rep.Files != 2 {
		t.Fatalf("verify after refusals: %v %+v", err, rep)
	}
}

// The CLI entry points the Mage targets call, end to end on one config.
func TestRunCommands(t *testing.T) {
	ctx := context.Background()
	c := acmConfig(t)
	dl := c.Abs(c.Paths.Downloads)
	writeDL(t, dl, []dlFile{{"a.tar.gz", content("a", 1000), true}, {"b.tar.xz", content("b", 2000), true}})
	var out bytes.Buffer
	if err := RunPopulate(ctx, c, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 added, 0 replaced, 0 unchanged") {
		t.Errorf("populate output %q", out.String())
	}
	out.Reset()
	if err := RunVerify(ctx, c, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 files") {
		t.Errorf("verify output %q", out.String())
	}
	os.WriteFile(filepath.Join(c.Abs(c.Paths.Mirror), "a.tar.gz"), []byte("bad"), 0o644)
	out.Reset()
	err := RunVerify(ctx, c, &out)
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(out.String(), "corrupt: a.tar.gz") {
		t.Errorf("verify of a bad mirror: %v, output %q", err, out.String())
	}
	// Serve stops cleanly when the context ends.
	sctx, cancel := context.WithCancel(ctx)
	cancel()
	out.Reset()
	if err := RunServe(sctx, c, "127.0.0.1:0", &out, nil); err != nil || !strings.Contains(out.String(), "serving ") {
		t.Errorf("serve: %v %q", err, out.String())
	}
	if err := RunServe(ctx, c, "256.0.0.1:1", &out, nil); exitcode.Of(err) != exitcode.Failure {
		t.Errorf("serve on a bad address: %v", err)
	}
}
