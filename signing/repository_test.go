package signing

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRepositoryFormat(t *testing.T) {
	dir, keys := devRepo(t)
	pk, err := os.ReadFile(filepath.Join(dir, PackagesFile))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "XC-PACKAGES.golden", pk)

	repo, _ := os.ReadFile(filepath.Join(dir, RepositoryFile))
	if len(repo) != RepositorySize {
		t.Fatalf("XC-REPOSITORY is %d bytes", len(repo))
	}
	head := repo[:bytes.Index(repo, []byte("\n\n"))+1]
	golden(t, "XC-REPOSITORY.head.golden", head)
	if strings.Trim(string(repo[len(head):]), "\n") != "" {
		t.Fatal("padding is not all newlines")
	}

	// Each line's size and digest agree with coreutils.
	for _, line := range strings.Split(strings.TrimSpace(string(pk)), "\n") {
		f := strings.Fields(line)
		if len(f) != 7 {
			t.Fatalf("line %q has %d fields", line, len(f))
		}
		if sha256sumCLI(t, filepath.Join(dir, f[5])) != f[2] {
			t.Errorf("%s: digest differs from sha256sum", f[5])
		}
	}
	// packages: is sha256sum of XC-PACKAGES.
	if want := "packages:" + sha256sumCLI(t, filepath.Join(dir, PackagesFile)) + "\n"; !bytes.Contains(head, []byte(want)) {
		t.Errorf("XC-REPOSITORY lacks %q", want)
	}
	// The device's command accepts it with the dev CA and rejects it with
	// the prod CA.
	if err := deviceVerify(t, dir, keys.DevCACert); err != nil {
		t.Fatalf("device rejects the dev signature: %v", err)
	}
	if err := deviceVerify(t, dir, keys.ProdCACert); err == nil {
		t.Fatal("device accepts a dev signature with the prod CA")
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("packages.main mode %v", fi.Mode().Perm())
	}
}

func sha256sumCLI(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

func TestWriteRepositoryMissingComponents(t *testing.T) {
	keys := sharedKeys(t)
	s, err := LoadSigner(keys.DevSigningCert, keys.DevSigningKey, "")
	if err != nil {
		t.Fatal(err)
	}
	m := DefaultManifest()

	t.Run("required components missing are all named", func(t *testing.T) {
		raw := rawFixture(t, m, "dom0", "ndvm")
		out := filepath.Join(t.TempDir(), "packages.main")
		err := WriteRepository(context.Background(), raw, out, m, testMeta, s, nil)
		var me *MissingError
		if !errors.As(err, &me) {
			t.Fatalf("err = %v, want MissingError", err)
		}
		if !strings.Contains(err.Error(), "dom0 (dom0-rootfs.ext3.gz)") || !strings.Contains(err.Error(), "ndvm (") {
			t.Fatalf("error does not name the components: %v", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a failed run left a repository behind")
		}
	})

	// The 2014 bug: a missing optional file ended the manifest loop, dropping
	// every later component. syncvm comes before the tools ISO.
	t.Run("missing optional component is skipped, later ones kept", func(t *testing.T) {
		raw := rawFixture(t, m, "syncvm")
		out := filepath.Join(t.TempDir(), "packages.main")
		if err := WriteRepository(context.Background(), raw, out, m, testMeta, s, nil); err != nil {
			t.Fatal(err)
		}
		pk, _ := os.ReadFile(filepath.Join(out, PackagesFile))
		if bytes.Contains(pk, []byte("syncvm")) {
			t.Error("skipped component listed")
		}
		if !bytes.Contains(pk, []byte(" xc-tools.iso /storage/isos/xc-tools.iso\n")) {
			t.Errorf("component after the missing one dropped:\n%s", pk)
		}
		if _, err := os.Stat(filepath.Join(out, "syncvm-rootfs.ext3.vhd.gz")); err == nil {
			t.Error("missing file appeared")
		}
	})
}

func TestWriteRepositoryReplacesStaleFiles(t *testing.T) {
	dir, keys := devRepo(t)
	s, _ := LoadSigner(keys.DevSigningCert, keys.DevSigningKey, "")
	// A later build renames an artifact (as the .i686 removal did).
	m := DefaultManifest()
	m[1].File = "dom0-rootfs.ext4.gz"
	raw := rawFixture(t, m)
	if err := WriteRepository(context.Background(), raw, dir, m, testMeta, s, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dom0-rootfs.ext3.gz")); err == nil {
		t.Error("stale file from the previous build left in packages.main")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("leftovers beside packages.main: %v", entries)
	}
	res, err := Verify(context.Background(), dir, VerifyOptions{ProdCAFile: keys.ProdCACert, DevCAFile: keys.DevCACert, AllowDev: true})
	if err != nil || !res.OK() {
		t.Fatalf("rewritten repository does not verify: %v %v", err, res.Problems)
	}
}

func TestManifestParseAndValidate(t *testing.T) {
	const text = `# openxt.git manifest
control tarbz2 required control.tar.bz2 /
dom0 ext3gz required dom0-rootfs.ext3.gz /

syncvm vhdgz optional syncvm-rootfs.ext3.vhd.gz /storage/syncvm
`
	m, err := ParseManifest(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || !m[0].Required || m[2].Required || m[2].Destination != "/storage/syncvm" {
		t.Fatalf("parsed %+v", m)
	}
	for _, bad := range []string{
		"control tarbz2 required control.tar.bz2",         // 4 fields
		"control tarbz2 maybe control.tar.bz2 /",          // bad required flag
		"control tarbz2 required ../etc/passwd /",         // traversal
		"control tarbz2 required sub/control.tar.bz2 /",   // not a plain name
		"control tarbz2 required XC-PACKAGES /",           // metadata clash
		"control tarbz2 required control.tar.bz2 storage", // relative destination
		"a f required x /\na f required y /",              // duplicate name
		"a f required x /\nb f required x /",              // duplicate file
		"",                                                // empty
	} {
		if _, err := ParseManifest(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted manifest %q", bad)
		}
	}
}

func TestRepositoryContentRejectsLineBreaks(t *testing.T) {
	m := testMeta
	m.Version = "9.0\npackages:evil"
	if _, err := RepositoryContent(m, make([]byte, 32)); err == nil {
		t.Fatal("accepted a line break in version")
	}
}
