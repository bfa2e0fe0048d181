package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The tools binary may carry only the tools and their small libraries, never
// the build-host side of xtbuild (bitbake driving, signing, mirrors...).
func TestDepsOnlyToolsAndSmallLibraries(t *testing.T) {
	const self = "github.com/xtbuild/xtbuild"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowedModules := []string{self, "golang.org/x/", "github.com/google/go-tpm"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, mod, _ := strings.Cut(line, "\t")
		if mod == "" {
			continue // standard library
		}
		if mod == self {
			if pkg != self+"/cmd/xt" && !strings.HasPrefix(pkg, self+"/tools/") {
				t.Errorf("xt imports %s: only %s/tools/... may go into the tools binary", pkg, self)
			}
			continue
		}
		ok := false
		for _, a := range allowedModules {
			ok = ok || strings.HasPrefix(mod, a)
		}
		if !ok {
			t.Errorf("xt imports %s from module %s: not an allowed library", pkg, mod)
		}
	}
}
