package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxSize is the budget for the stripped, static tools binary: it goes into
// small target images.
const maxSize = 4 << 20

// buildXT builds the binary the way images get it: CGO off, stripped.
func buildXT(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "xt")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestBinarySizeStrippedStatic(t *testing.T) {
	bin := buildXT(t)
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("xt stripped, CGO_ENABLED=0: %d bytes (%.2f MiB of %d MiB)", fi.Size(), float64(fi.Size())/(1<<20), maxSize>>20)
	if fi.Size() > maxSize {
		t.Fatalf("xt is %d bytes, over the %d-byte budget", fi.Size(), maxSize)
	}
	// Static: no program interpreter, so it runs on an image without libc.
	if f, err := elf.Open(bin); err == nil {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("xt has a program interpreter: not statically linked")
			}
		}
		f.Close()
	}

	// The built binary dispatches the DS1077L tool both ways: as `xt
	// ds1077l` and through a link named after an original program.
	out, err := exec.Command(bin, "ds1077l", "freq", "33MHz", "--grade", "66").Output()
	if err != nil || !strings.Contains(string(out), "output:  33.333 MHz") {
		t.Errorf("xt ds1077l freq: %v\n%s", err, out)
	}
	link := filepath.Join(filepath.Dir(bin), "ds1077l-mux")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(link, "--help").Output()
	if err != nil || !strings.Contains(string(out), "--div1=0|1") {
		t.Errorf("ds1077l-mux --help through a link: %v\n%s", err, out)
	}
	// The tpm-tools drop-ins answer through their links.
	nvinfo := filepath.Join(filepath.Dir(bin), "tpm_nvinfo")
	if err := os.Symlink(bin, nvinfo); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command(nvinfo, "--help").Output()
	if !strings.Contains(string(out), "-n, --list-only") {
		t.Errorf("tpm_nvinfo --help through a link:\n%s", out)
	}
	// No such bus here: a clean failure (exit 1) naming the node.
	cmd := exec.Command(link, "--bus-dev=/nonexistent/i2c-0", "--get")
	b, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), "/nonexistent/i2c-0") {
		t.Errorf("missing bus: %v\n%s", err, b)
	}
}
