package targets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// migrate takes a repo manifest and a bordel build dir as well as a
// .config, and plan accepts what it writes.
func TestMigrateManifestAndBordelThenPlan(t *testing.T) {
	for _, tc := range []struct{ name, src, kind string }{
		{"manifest", "../config/testdata/migrate/manifest-master.xml", "openxt-manifest repo manifest"},
		{"bordel build dir", "../config/testdata/migrate/bordel-build", "bordel configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src, _ := filepath.Abs(tc.src)
			out, errOut, code := runBin(t, dir, nil, "migrate", src)
			if code != 0 || !strings.Contains(out, "("+tc.kind+")") {
				t.Fatalf("migrate: %d\n%s%s", code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "xtbuild.toml")); err != nil {
				t.Fatal(err)
			}
			if out, errOut, code := runBin(t, dir, nil, "plan"); code != 0 {
				t.Fatalf("plan of the migrated config: %d\n%s%s", code, out, errOut)
			}
		})
	}
}
