package tpm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docDevice is the swtpm socket the examples in docs/tools/tpm.md use.
const docDevice = "unix:/tmp/swtpm12/tpm.sock"

// TestDocsShowRealOutput keeps docs/tools/tpm.md honest: every golden
// output captured from swtpm must appear in it verbatim.
func TestDocsShowRealOutput(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "tools", "tpm.md"))
	if err != nil {
		t.Fatal(err)
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimRight(strings.ReplaceAll(string(b), "DEVICE", docDevice), "\n")
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/tools/tpm.md does not show %s:\n%s", g, want)
		}
	}
}
