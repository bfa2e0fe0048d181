package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// needOpenSSL returns the openssl binary; CI (CI=true) must have it.
func needOpenSSL(t testing.TB) string {
	t.Helper()
	return testenv.LookPath(t, "openssl", "openssl")
}

func runCmd(t testing.TB, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// deviceVerify runs the device's exact check (verify-repo-metadata's
// verify_signature) against one CA file.
func deviceVerify(t testing.TB, packagesDir, caFile string) error {
	t.Helper()
	_, err := runCmd(t, nil, needOpenSSL(t), "smime", "-verify",
		"-in", filepath.Join(packagesDir, SignatureFile), "-inform", "PEM",
		"-content", filepath.Join(packagesDir, RepositoryFile), "-CAfile", caFile)
	return err
}

var (
	keysOnce sync.Once
	keysDir  string
	keysErr  error
)

// sharedKeys makes one RSA key set per test binary (key generation is the
// slow part of these tests); tests must not modify it.
func sharedKeys(t testing.TB) KeyFiles {
	t.Helper()
	keysOnce.Do(func() {
		keysDir, keysErr = os.MkdirTemp("", "xtbuild-signing-keys-*")
		if keysErr == nil {
			keysErr = GenerateKeys(context.Background(), keysDir, KeyOptions{})
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return KeyPaths(keysDir)
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	for _, d := range []string{keysDir, benchDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// rawFixture writes deterministic payloads for every file of m into a new
// raw dir, skipping the names in omit.
func rawFixture(t testing.TB, m Manifest, omit ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i, c := range m {
		if contains(omit, c.Name) {
			continue
		}
		// Distinct, reproducible content of varying size.
		var b bytes.Buffer
		seed := sha256.Sum256([]byte(c.Name))
		for b.Len() < 4096*(i+1)+i {
			b.Write(seed[:])
			seed = sha256.Sum256(seed[:])
		}
		if err := os.WriteFile(filepath.Join(dir, c.File), b.Bytes()[:4096*(i+1)+i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var testMeta = RepoMeta{Build: "190412", Version: "9.0.2", Release: "9.0.2", UpgradeFrom: []string{"8.0.0", "8.0.1", "9.0.0"}}

// devRepo writes a dev-signed repository from the default manifest.
func devRepo(t testing.TB) (packagesDir string, keys KeyFiles) {
	t.Helper()
	keys = sharedKeys(t)
	s, err := LoadSigner(keys.DevSigningCert, keys.DevSigningKey, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := rawFixture(t, DefaultManifest())
	packagesDir = filepath.Join(t.TempDir(), "repository", "packages.main")
	if err := WriteRepository(context.Background(), raw, packagesDir, DefaultManifest(), testMeta, s, nil); err != nil {
		t.Fatal(err)
	}
	return packagesDir, keys
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}
