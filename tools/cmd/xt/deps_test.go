package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The tools binary may carry only the tools and their small libraries, never
// the build-host side of xtbuild (bitbake driving, signing, mirrors...). The
// tools are their own module, so the build-host module
// (github.com/xtbuild/xtbuild) must not appear at all.
func TestDepsOnlyToolsAndSmallLibraries(t *testing.T) {
	const self = "github.com/xtbuild/xtbuild/tools"
	// GOWORK=off: the tools module on its own, as an OE recipe builds it.
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}", ".")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowedModules := []string{"golang.org/x/", "github.com/google/go-tpm"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, mod, _ := strings.Cut(line, "\t")
		if mod == "" {
			continue // standard library
		}
		if mod == self {
			continue // the tools module itself
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
