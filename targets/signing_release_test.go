package targets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/internal/testenv"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipeline"
	"github.com/xtbuild/xtbuild/provenance"
	"github.com/xtbuild/xtbuild/signing"
)

// shippedTOML signs with real keys kept apart from the stand-in CA files
// setupoe checks; the release key is the production CA itself, as
// OpenXT's scripts sign.
const shippedTOML = `
[signing]
prod_ca_cert = "keys/prod-cacert.pem"
dev_ca_cert = "keys/dev-cacert.pem"
dev_signing_cert = "keys/dev-signing-cert.pem"
dev_signing_key = "keys/dev-signing-key.pem"
release_signing_cert = "keys/prod-cacert.pem"
release_signing_key = "keys/prod-cakey.pem"
`

// shippedWorld is a whole build through ship (stand-in bitbake, real
// xorriso/mtools, real keys): a development-signed repository, ISO, update,
// netboot, manifest.json and a signed provenance. The keys are ECDSA, so
// every development signature differs and a stale hash cannot pass for a
// fresh one.
func shippedWorld(t *testing.T) *standin.World {
	t.Helper()
	for tool, pkg := range map[string]string{"xorriso": "xorriso", "mkfs.fat": "dosfstools", "mmd": "mtools", "mcopy": "mtools", "openssl": "openssl"} {
		testenv.LookPath(t, tool, pkg)
	}
	w := standin.NewWorld(t, fakeBitbake, shippedTOML)
	if err := signing.GenerateKeys(context.Background(), filepath.Join(w.Work, "keys"), signing.KeyOptions{Algorithm: signing.ECDSAP256, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Run(context.Background(), w.Env(config.Options{}), "ship"); err != nil {
		t.Fatalf("build: %v\n%s", err, w.Out)
	}
	return w
}

// cloneWork copies the built work tree for one subtest (the upstream
// repositories it names stay where they are).
func cloneWork(t *testing.T, w *standin.World) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "work")
	if out, err := exec.Command("cp", "-a", w.Work, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

func outDirOf(work string) string { return filepath.Join(work, "build-output", "openxt-dev-42-master") }

// snapshot is every entry under dir: a file's sha256 and mode, a symlink's
// target, a directory.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "symlink " + l
		case d.IsDir():
			out[rel] = "dir"
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			st, _ := d.Info()
			out[rel] = st.Mode().String() + " " + sha(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sha(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func diffSnapshots(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, k+" (new)")
		}
	}
	sort.Strings(d)
	return d
}

// consistent checks that the build output is one complete state and
// returns its repository signature: verify (the device's check) passes,
// openssl accepts the signature against caFile, manifest.json lists
// exactly the files on disk with their hashes, the ISO and the update carry
// the repository's own metadata, and the provenance verifies and covers
// the manifest.
func consistent(t *testing.T, work, caFile string) string {
	t.Helper()
	out := outDirOf(work)
	if stdout, stderr, code := runBin(t, work, []string{"XTBUILD_DEV=1"}, "verify"); code != 0 {
		t.Fatalf("verify = %d\n%s%s", code, stdout, stderr)
	}
	pkg := filepath.Join(out, "repository", "packages.main")
	cmd := exec.Command("openssl", "smime", "-verify", "-in", "XC-SIGNATURE", "-inform", "PEM", "-content", "XC-REPOSITORY",
		"-CAfile", filepath.Join(work, caFile), "-out", os.DevNull)
	cmd.Dir = pkg
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl against %s: %v\n%s", caFile, err, o)
	}

	m, err := manifest.Read(filepath.Join(out, manifest.File))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, a := range m.Artifacts {
		listed[a.Path] = a.SHA256
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(a.Path)))
		if err != nil {
			t.Errorf("manifest lists %s: %v", a.Path, err)
			continue
		}
		if sha(data) != a.SHA256 || int64(len(data)) != a.Size {
			t.Errorf("manifest.json: %s is stale (listed %s, on disk %s)", a.Path, a.SHA256[:12], sha(data)[:12])
		}
	}
	for _, part := range []string{"repository", "iso", "update", "netboot"} {
		for _, f := range manifest.Files(filepath.Join(out, part)) {
			if rel := manifest.RelSlash(out, f); listed[rel] == "" {
				t.Errorf("manifest.json does not list %s", rel)
			}
		}
	}

	files := map[string]string{}
	for _, f := range []string{"XC-PACKAGES", "XC-REPOSITORY", "XC-SIGNATURE"} {
		data, err := os.ReadFile(filepath.Join(pkg, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = sha(data)
	}
	for _, media := range []string{"iso/installer.iso", "update/update.tar"} {
		_, members, err := provenance.Members(context.Background(), filepath.Join(out, media))
		if err != nil {
			t.Fatalf("%s: %v", media, err)
		}
		for f, want := range files {
			if got := members["packages.main/"+f].SHA256; got != want {
				t.Errorf("%s holds packages.main/%s %.12s, the repository %.12s", media, f, got, want)
			}
		}
	}

	prov := filepath.Join(out, provenance.File)
	doc, err := provenance.Verify(prov, "", filepath.Join(work, "keys", "dev-cacert.pem"))
	if err != nil {
		t.Fatalf("provenance: %v", err)
	}
	subj := doc.Subjects()
	if len(subj) != len(listed) {
		t.Errorf("provenance has %d subjects, the manifest %d artifacts", len(subj), len(listed))
	}
	for p, sum := range listed {
		if subj[p] != sum {
			t.Errorf("provenance subject %s = %.12s, manifest %.12s", p, subj[p], sum)
		}
	}
	mdata, _ := os.ReadFile(filepath.Join(out, manifest.File))
	if bp := doc.Provenance.GetRunDetails().GetByproducts(); len(bp) != 1 || bp[0].GetDigest()["sha256"] != sha(mdata) {
		t.Errorf("provenance names a manifest.json that is not the one on disk: %v", bp)
	}
	sig, _ := os.ReadFile(filepath.Join(pkg, "XC-SIGNATURE"))
	return string(sig)
}

// leftovers lists what a sign run may have left beside the output: staging
// trees in build-output/ or in the output itself.
func leftovers(t *testing.T, work string) []string {
	t.Helper()
	var left []string
	ents, _ := os.ReadDir(filepath.Join(work, "build-output"))
	for _, e := range ents {
		if e.Name() != "openxt-dev-42-master" {
			left = append(left, e.Name())
		}
	}
	filepath.WalkDir(outDirOf(work), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.Contains(d.Name(), ".new-") || strings.Contains(d.Name(), ".tmp-") {
			left = append(left, p)
		}
		return nil
	})
	return left
}

// A release sign that fails after the repository could be signed (here:
// assembling the ISO) must leave everything as it was: before, the
// repository kept a release signature while the ISO and update still held
// the development one, and manifest.json matched neither.
func TestReleaseSignIsAllOrNothing(t *testing.T) {
	w := shippedWorld(t)
	for _, tc := range []struct {
		name string
		file string // the input of the ISO that is broken (relative to raw/)
		data []byte // its broken content; nil removes it
		want string
	}{
		// A real xorriso failure ("Isolinux image too small"), after
		// update.tar and netboot/ were already assembled.
		{"xorriso fails", "installer/iso/isolinux.bin", []byte("short"), "xorriso"},
		// An input of the ISO is missing.
		{"missing GRUB EFI image", "grubx64.efi", nil, "grubx64.efi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := cloneWork(t, w)
			out := outDirOf(work)
			p := filepath.Join(out, "raw", filepath.FromSlash(tc.file))
			good, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(p)
			if tc.data != nil {
				if err := os.WriteFile(p, tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, out)
			stdout, stderr, code := runBin(t, work, []string{"XTBUILD_RELEASE=1"}, "sign")
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("release sign with a broken ISO input: exit %d\n%s%s", code, stdout, stderr)
			}
			if d := diffSnapshots(before, snapshot(t, out)); len(d) > 0 {
				t.Errorf("a failed release sign changed the build output: %v", d)
			}
			if l := leftovers(t, work); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
			// With the input put back it is still the development-signed
			// build, whole.
			os.Remove(p)
			if err := os.WriteFile(p, good, 0o644); err != nil {
				t.Fatal(err)
			}
			consistent(t, work, "keys/dev-cacert.pem")
		})
	}
}

// After sign, in either mode, manifest.json lists the files as they are on
// disk and the provenance covers them and verifies; the media carry the new
// repository. Before, the manifest kept the old repository's and media's
// hashes.
func TestSignKeepsManifestAndProvenanceTrue(t *testing.T) {
	w := shippedWorld(t)
	for _, tc := range []struct {
		name string
		env  []string
		ca   string
	}{
		{"dev", nil, "keys/dev-cacert.pem"},
		{"release", []string{"XTBUILD_RELEASE=1"}, "keys/prod-cacert.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := cloneWork(t, w)
			old := consistent(t, work, "keys/dev-cacert.pem")
			if stdout, stderr, code := runBin(t, work, tc.env, "sign"); code != 0 {
				t.Fatalf("sign: %d\n%s%s", code, stdout, stderr)
			}
			if consistent(t, work, tc.ca) == old {
				t.Error("sign left the old signature")
			}
			if l := leftovers(t, work); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
			if tc.name == "release" {
				if _, _, code := runBin(t, work, nil, "verify"); code != 0 {
					t.Errorf("verify without XTBUILD_DEV after a release sign = %d", code)
				}
			}
		})
	}
}
