package config

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/config.md")

// docs/config.md is generated from the types; a stale copy fails here.
func TestReferenceUpToDate(t *testing.T) {
	const path = "../docs/config.md"
	got := Reference()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./config -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/config.md is stale: run go test ./config -run TestReferenceUpToDate -update")
	}
}
