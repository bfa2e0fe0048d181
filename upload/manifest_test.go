package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/term"
	"github.com/xtbuild/xtbuild/manifest"
)

// writeBuildManifest lists every file of build b except manifest.json and
// provenance.json with its size and sha256, as steps does when it collects
// artifacts, and returns how many it listed.
func writeBuildManifest(t *testing.T, b string) int {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if n := d.Name(); n != ManifestName && n != "provenance.json" {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sizes, sums, err := manifest.SHA256(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{Name: testName}
	for i, p := range paths {
		rel, _ := filepath.Rel(b, p)
		m.Artifacts = append(m.Artifacts, manifest.Artifact{Path: filepath.ToSlash(rel), Size: sizes[i], SHA256: sums[i], Step: "test"})
	}
	// A manifest listing a file with the right size but another sum, as a
	// step that rewrites a file without updating the manifest leaves it.
	for i := range m.Artifacts {
		if m.Artifacts[i].Path == "netboot/vmlinuz" {
			other := sha256.Sum256([]byte("not vmlinuz"))
			m.Artifacts[i].SHA256 = hex.EncodeToString(other[:])
		}
	}
	if err := m.Write(filepath.Join(b, ManifestName)); err != nil {
		t.Fatal(err)
	}
	return len(paths)
}

// TestPublishReusesManifestSums: files listed in manifest.json with their
// size, and not modified since, are not hashed here; the destination's
// hash must still match the listed sum, a stale entry falls back to the
// file's own bytes, and large files are hashed at the destination while
// they arrive (sftp-files) or go in tar streams (sftp).
func TestPublishReusesManifestSums(t *testing.T) {
	if os.Getenv("XTBUILD_UPLOAD_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			root := t.TempDir()
			// Larger than streamHashMin and not a multiple of a block, so
			// the last chunk hashed while receiving is a partial one.
			src := makeBuild(t, root, streamHashMin+12345)
			listed := writeBuildManifest(t, src)
			// Modified after the manifest was written: not trusted.
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(src, "netboot", "rootfs.i686.cpio.gz"), later, later); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(root, "dest")
			// An earlier run left a same-size, different dom0 image: the
			// listed sum must not hide that the destination differs.
			dom0 := filepath.Join("repository", "packages.main", "dom0-rootfs.ext3.gz")
			bad, _ := os.ReadFile(filepath.Join(src, dom0))
			bad[7] ^= 1
			writeFile(t, filepath.Join(dest, "master", "."+testName+".partial", dom0), string(bad))

			var log bytes.Buffer
			o := Options{Src: src, Dest: tg.url(dest), Branch: "master", Term: term.NewPlain(&log)}
			tg.opts(&o)
			st, err := Publish(context.Background(), o)
			if err != nil {
				t.Fatalf("Publish: %v\n%s", err, log.String())
			}
			checkPublished(t, src, filepath.Join(dest, "master", testName), 0o755, 0o644)
			if want := listed - 1; st.FromManifest != want {
				t.Errorf("%d files took their sum from the manifest, want %d (all listed but the one modified later)", st.FromManifest, want)
			}
			if st.SkippedFiles != 0 || st.Sent != st.Bytes || st.Verified != st.Files {
				t.Errorf("stats %+v: want the stale dom0 image resent, every file sent and verified", st)
			}
			if !strings.Contains(log.String(), "warning: netboot/vmlinuz does not match its sha256 in manifest.json") {
				t.Errorf("no warning about the stale manifest entry:\n%s", log.String())
			}
			wantHashedReceiving, wantStreamed := 0, 0
			switch tg.name {
			case "sftp-files":
				wantHashedReceiving = 1 // the ISO
			case "sftp":
				// Every file in the tar stream (the stale dom0 copy too,
				// as it is sent from scratch; manifest.json last), each
				// hashed by the server as tar finished it.
				wantStreamed, wantHashedReceiving = st.Files, st.Files
			}
			if st.HashedReceiving != wantHashedReceiving || st.Streamed != wantStreamed {
				t.Errorf("%d files hashed while receiving, %d streamed; want %d and %d", st.HashedReceiving, st.Streamed, wantHashedReceiving, wantStreamed)
			}
		})
	}
}

// TestStreamHash sends files of several sizes around the chunk size over
// SFTP and checks the sha256 the server computed while receiving against
// the file's.
func TestStreamHash(t *testing.T) {
	if os.Getenv("XTBUILD_UPLOAD_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	s := startSSHD(t)
	root := t.TempDir()
	d, _ := ParseDestination(s.url(root))
	ctx := context.Background()
	conn, err := dialSSH(ctx, d, sshSettings{knownHosts: s.knownHosts, identity: s.identity})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSFTPBackend(ctx, conn, d, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	for i, size := range []int64{streamChunk, streamChunk + 1} {
		local := filepath.Join(root, "src", "f"+string(rune('a'+i)))
		writeRandom(t, local, size, uint64(500+i))
		want, _ := hashFile(ctx, local)
		remote := filepath.Join(root, "it's $(x)"+string(rune('a'+i)))
		r, err := b.put(ctx, fileEntry{rel: "f", local: local, size: size}, remote, 0, 0o644, true, func(int) {})
		if err != nil {
			t.Fatal(err)
		}
		if !r.hashedRemote || r.remote != want || r.local != want {
			t.Errorf("size %d: hashed while receiving %v, remote %x, local %x, want %x", size, r.hashedRemote, r.remote, r.local, want)
		}
	}
}
