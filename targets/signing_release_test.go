package targets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/internal/testenv"
	"github.com/xtbuild/xtbuild/internal/treetest"
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

func sha(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// consistent checks that the build output is one complete state and
// returns its repository signature: verify (the device's check) passes,
// openssl accepts the signature against caFile, manifest.json lists
// exactly the files on disk with their hashes, the ISO and the update carry
// the repository's own metadata, and the provenance verifies and covers
// the manifest.
func consistent(t *testing.T, work, caFile string) string {
	return consistentWith(t, work, caFile)
}

// consistentWith is consistent accepting a signature that verifies
// against any of caFiles.
func consistentWith(t *testing.T, work string, caFiles ...string) string {
	t.Helper()
	out := outDirOf(work)
	if stdout, stderr, code := runBin(t, work, []string{"XTBUILD_DEV=1"}, "verify"); code != 0 {
		t.Fatalf("verify = %d\n%s%s", code, stdout, stderr)
	}
	pkg := filepath.Join(out, "repository", "packages.main")
	var failures []string
	for _, caFile := range caFiles {
		cmd := exec.Command("openssl", "smime", "-verify", "-in", "XC-SIGNATURE", "-inform", "PEM", "-content", "XC-REPOSITORY",
			"-CAfile", filepath.Join(work, caFile), "-out", os.DevNull)
		cmd.Dir = pkg
		o, err := cmd.CombinedOutput()
		if err == nil {
			failures = nil
			break
		}
		failures = append(failures, fmt.Sprintf("openssl against %s: %v\n%s", caFile, err, o))
	}
	if len(failures) > 0 {
		t.Fatal(strings.Join(failures, "\n"))
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
	var named []string // the manifest's digests the provenance names (one, besides the step:<name> records)
	for _, bp := range doc.Provenance.GetRunDetails().GetByproducts() {
		if bp.GetName() == manifest.File {
			named = append(named, bp.GetDigest()["sha256"])
		}
	}
	if len(named) != 1 || named[0] != sha(mdata) {
		t.Errorf("provenance names manifest.json digests %v, the one on disk is %s", named, sha(mdata))
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

// sign on a shipped build (one build, copied for each case): all or
// nothing, manifest and provenance kept true, kills and Ctrl-C at random
// moments.
func TestSignShippedBuild(t *testing.T) {
	w := shippedWorld(t)
	t.Run("failed release leaves the old state", func(t *testing.T) { testReleaseSignIsAllOrNothing(t, w) })
	t.Run("manifest and provenance follow", func(t *testing.T) { testSignKeepsManifestAndProvenanceTrue(t, w) })
	t.Run("killed at random points", func(t *testing.T) { testKillReleaseSignAtRandomPoints(t, w) })
}

// A release sign that fails after the repository could be signed (here:
// assembling the ISO) must leave everything as it was: before, the
// repository kept a release signature while the ISO and update still held
// the development one, and manifest.json matched neither.
func testReleaseSignIsAllOrNothing(t *testing.T, w *standin.World) {
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
			before := treetest.Snapshot(t, out)
			stdout, stderr, code := runBin(t, work, []string{"XTBUILD_RELEASE=1"}, "sign")
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("release sign with a broken ISO input: exit %d\n%s%s", code, stdout, stderr)
			}
			if d := treetest.Diff(before, treetest.Snapshot(t, out)); len(d) > 0 {
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
func testSignKeepsManifestAndProvenanceTrue(t *testing.T, w *standin.World) {
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

// SIGKILL (with everything it runs, as systemd stops a unit) or SIGINT a
// release sign at random moments, a bounded number of times: after each,
// the output must be one complete, consistent state (the old one or the
// new one) that verify accepts, and the next run must succeed and clean
// up what the killed one left. A Ctrl-C must exit 130 (or 0 if the run
// had finished) and leave nothing behind.
func testKillReleaseSignAtRandomPoints(t *testing.T, w *standin.World) {
	release := []string{"XTBUILD_RELEASE=1"}
	// One uninterrupted run on a copy measures how long a release sign takes.
	probe := cloneWork(t, w)
	start := time.Now()
	if stdout, stderr, code := runBin(t, probe, release, "sign"); code != 0 {
		t.Fatalf("sign: %d\n%s%s", code, stdout, stderr)
	}
	took := time.Since(start)

	work := cloneWork(t, w)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 18))
	t.Logf("seed %d, an uninterrupted release sign takes %v", seed, took.Round(time.Millisecond))
	sig := consistent(t, work, "keys/dev-cacert.pem")
	var kills, interrupts, finished, oldState, newState, killedNew int
	const rounds = 12
	for i := 0; i < rounds; i++ {
		interrupt := i%4 == 2
		pre := leftovers(t, work)
		cmd := exec.Command(bin, "sign")
		cmd.Dir = work
		cmd.Env = append(os.Environ(), release...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var outBuf strings.Builder
		cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			// Anywhere in the run.
			time.Sleep(time.Duration(rng.Int64N(int64(took) * 11 / 10)))
		} else {
			// Around the swap: once the new provenance is written beside
			// the output, within a few milliseconds.
			// (A killed round's leftover does not count.)
			stage := filepath.Join(work, "build-output", ".openxt-dev-42-master.new-*", provenance.File)
		wait:
			for end := time.Now().Add(3 * took); time.Now().Before(end); time.Sleep(time.Millisecond) {
				m, _ := filepath.Glob(stage)
				for _, p := range m {
					if !slices.Contains(pre, filepath.Base(filepath.Dir(p))) {
						break wait
					}
				}
			}
			time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
		}
		if interrupt {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		} else {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		switch {
		case code == 0:
			finished++
		case interrupt:
			interrupts++
			// 130, or killed by the SIGINT itself when it came before
			// the target took the signal over (the shell shows 130 too).
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if code != 130 && !(ws.Signaled() && ws.Signal() == syscall.SIGINT) {
				t.Errorf("round %d: Ctrl-C: %v, want exit 130\n%s", i, cmd.ProcessState, outBuf.String())
			}
		default:
			kills++
		}
		now := consistentWith(t, work, "keys/prod-cacert.pem", "keys/dev-cacert.pem")
		if now == sig {
			oldState++
		} else {
			newState++
			if code != 0 {
				killedNew++
			}
		}
		sig = now
		if interrupt || code == 0 {
			for _, l := range leftovers(t, work) {
				if !slices.Contains(pre, l) {
					t.Errorf("round %d (%v) left behind %s", i, cmd.ProcessState, l)
				}
			}
		}
	}
	if stdout, stderr, code := runBin(t, work, release, "sign"); code != 0 {
		t.Fatalf("sign after the kills: %d\n%s%s", code, stdout, stderr)
	}
	consistent(t, work, "keys/prod-cacert.pem")
	if l := leftovers(t, work); len(l) > 0 {
		t.Errorf("left behind after a full run: %v", l)
	}
	t.Logf("%d rounds: %d SIGKILLs, %d SIGINTs, %d runs finished first; %d times the old state, %d times the new one (%d of them killed after the swap), never a mix",
		rounds, kills, interrupts, finished, oldState, newState, killedNew)
}
