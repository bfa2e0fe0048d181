package steps

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
)

var update = flag.Bool("update", false, "rewrite generated docs")

// docs/steps.md's step table is generated from the built-in profile.
func TestStepsDocUpToDate(t *testing.T) {
	c, err := config.Parse("", nil, "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| step | kind | MACHINE | bitbake targets | depends on | artifacts (deploy → raw/) |\n|---|---|---|---|---|---|\n")
	names := make([]string, 0, len(c.Steps))
	for n := range c.Steps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := c.Steps[n]
		var arts []string
		for _, a := range s.Artifacts {
			opt := ""
			if a.Optional {
				opt = " (optional)"
			}
			arts = append(arts, fmt.Sprintf("`%s` → `%s`%s", a.From, a.To, opt))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", n, s.StepKind(), s.Machine, strings.Join(s.Images, ", "),
			strings.Join(s.Depends, ", "), strings.Join(arts, "<br>"))
	}
	const path = "../docs/steps.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := []byte("<!-- BEGIN generated steps table"), []byte("<!-- END generated steps table -->")
	i, j := bytes.Index(doc, begin), bytes.Index(doc, end)
	if i < 0 || j < i {
		t.Fatal("markers missing in docs/steps.md")
	}
	i += bytes.IndexByte(doc[i:], '\n') + 1
	got := append(append(append([]byte{}, doc[:i]...), b.String()...), doc[j:]...)
	if *update {
		os.WriteFile(path, got, 0o644)
		return
	}
	if !bytes.Equal(got, doc) {
		t.Error("docs/steps.md step table is stale: go test ./steps -run TestStepsDocUpToDate -update")
	}
}
