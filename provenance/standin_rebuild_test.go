package provenance_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/pipeline"
)

// The stand-in's outputs follow its inputs: a second build in a fresh tree
// after upstream moved the layer to another commit gives image files with
// different bytes (and so a different manifest), so the reproducibility checks can fail.
func TestBuildWithChangedLayerCommitGivesDifferentManifest(t *testing.T) {
	w := newWorld(t)
	w.build()
	orig := images(t, w.outDir())
	w.layer.Commit("README", "a change that is not a recipe\n", "readme")
	os.RemoveAll(filepath.Join(w.work, "build"))
	os.RemoveAll(filepath.Join(w.work, "build-output"))
	os.Remove(w.config().LockFile())
	c := w.config()
	e := w.env()
	e.Config = c
	if _, err := pipeline.Run(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	again := images(t, w.outDir())
	if len(orig) == 0 || len(orig) != len(again) {
		t.Fatalf("image files %d before, %d after", len(orig), len(again))
	}
	for name, data := range orig {
		if bytes.Equal(data, again[name]) {
			t.Errorf("%s has the same bytes after the layer moved to another commit", name)
		}
	}
}

// images returns the bytes of the image files (cpio.gz) in the output tree.
func images(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && strings.HasSuffix(p, ".cpio.gz") {
			rel, _ := filepath.Rel(dir, p)
			out[rel], _ = os.ReadFile(p)
		}
		return nil
	})
	return out
}
