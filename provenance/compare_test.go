package provenance

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// tree is the content of an archive: path → bytes (a trailing / is a dir).
type tree map[string]string

var sampleTree = tree{
	"etc/":                   "",
	"etc/hostname":           "apu1d\n",
	"etc/init.d/rcS":         "#!/bin/sh\nmount -t proc proc /proc\n",
	"usr/bin/xt":             strings.Repeat("\x7fELF stand-in xt binary ", 300),
	"boot/tboot.gz":          strings.Repeat("tboot ", 500),
	"lib/modules/tpm_tis.ko": strings.Repeat("module ", 200),
}

// flipped is sampleTree with one byte of one member changed.
func flipped(member string) tree {
	out := tree{}
	for k, v := range sampleTree {
		out[k] = v
	}
	b := []byte(out[member])
	b[len(b)/2] ^= 0x01
	out[member] = string(b)
	return out
}

var fixedTime = time.Date(2021, 8, 25, 8, 55, 23, 0, time.UTC)

func sortedKeys(t tree) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	// Directories before their contents, deterministic order.
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

func tarGz(t *testing.T, tr tree) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, k := range sortedKeys(tr) {
		h := &tar.Header{Name: k, Mode: 0o644, ModTime: fixedTime, Size: int64(len(tr[k])), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if strings.HasSuffix(k, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(tr[k]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// cpioNewc writes an initramfs-style newc archive (the format the kernel
// unpacks), then gzips it.
func cpioGz(t *testing.T, tr tree) []byte {
	var raw bytes.Buffer
	ino := 1
	entry := func(name string, mode uint32, data string) {
		fmt.Fprintf(&raw, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, fixedTime.Unix(), len(data), 0, 0, 0, 0, len(name)+1, 0)
		raw.WriteString(name + "\x00")
		for raw.Len()%4 != 0 {
			raw.WriteByte(0)
		}
		raw.WriteString(data)
		for raw.Len()%4 != 0 {
			raw.WriteByte(0)
		}
		ino++
	}
	for _, k := range sortedKeys(tr) {
		if strings.HasSuffix(k, "/") {
			entry(strings.TrimSuffix(k, "/"), 0o040755, "")
		} else {
			entry(k, 0o100644, tr[k])
		}
	}
	entry("init", 0o120777, "/sbin/init")
	entry("TRAILER!!!", 0, "")
	for raw.Len()%512 != 0 {
		raw.WriteByte(0)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw.Bytes())
	zw.Close()
	return buf.Bytes()
}

// iso makes an ISO9660 image with Rock Ridge with xorriso (the Debian
// package the installer step also uses).
func iso(t *testing.T, tr tree) []byte {
	t.Helper()
	testenv.LookPath(t, "xorriso", "xorriso")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, k := range sortedKeys(tr) {
		p := filepath.Join(src, k)
		if strings.HasSuffix(k, "/") {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(tr[k]), 0o644)
	}
	filepath.Walk(src, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, fixedTime, fixedTime) })
	out := filepath.Join(dir, "image.iso")
	cmd := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", "XTBUILD", "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// twoTrees writes the same artifact set twice, with file differing.
func twoTrees(t *testing.T, name string, a, b []byte) (string, string) {
	t.Helper()
	root := t.TempDir()
	for side, data := range map[string][]byte{"a": a, "b": b} {
		dir := filepath.Join(root, side, "raw")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
		os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("same kernel"), 0o644)
	}
	return filepath.Join(root, "a"), filepath.Join(root, "b")
}

// One flipped byte in one member is found and named inside a tar.gz, a
// cpio.gz (initramfs) and an ISO, with both sizes and hashes.
func TestCompareNamesTheFlippedMember(t *testing.T) {
	tests := []struct {
		artifact, format, member string
		make                     func(*testing.T, tree) []byte
	}{
		{"control.tar.gz", "tar.gz", "usr/bin/xt", tarGz},
		{"rootfs.cpio.gz", "cpio.gz", "etc/init.d/rcS", cpioGz},
		{"installer.iso", "iso9660", "boot/tboot.gz", iso},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			a, b := twoTrees(t, tt.artifact, tt.make(t, sampleTree), tt.make(t, flipped(tt.member)))
			r, err := Compare(context.Background(), a, b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Identical || len(r.Differences) != 1 || r.Compared != 2 {
				t.Fatalf("report:\n%s", r.Text())
			}
			d := r.Differences[0]
			if d.Path != "raw/"+tt.artifact || d.Format != tt.format || len(d.Members) != 1 {
				t.Fatalf("difference %+v\n%s", d, r.Text())
			}
			m := d.Members[0]
			want := sampleTree[tt.member]
			if m.Name != tt.member || m.Status != "content differs" || m.A.Size != int64(len(want)) || m.B.Size != m.A.Size ||
				m.A.SHA256 != sum([]byte(want)) || m.B.SHA256 != sum([]byte(flipped(tt.member)[tt.member])) {
				t.Errorf("member %+v a %+v b %+v", m, m.A, m.B)
			}
			if !strings.Contains(r.Text(), tt.member+": content differs") {
				t.Errorf("text:\n%s", r.Text())
			}
			var back Report
			if err := json.Unmarshal(r.JSON(), &back); err != nil || back.Differences[0].Members[0].Name != tt.member {
				t.Errorf("JSON round trip: %v", err)
			}
			// The same archive on both sides is identical.
			same, _ := twoTrees(t, tt.artifact, tt.make(t, sampleTree), nil)
			if r, _ := Compare(context.Background(), same, same); !r.Identical {
				t.Errorf("self compare:\n%s", r.Text())
			}
		})
	}
}

// Every member listed by the readers, with the right metadata, for the
// formats and compressions an image deploy dir holds.
func TestMembersOfEachFormat(t *testing.T) {
	dir := t.TempDir()
	tgz := filepath.Join(dir, "a.tar.gz")
	os.WriteFile(tgz, tarGz(t, sampleTree), 0o644)
	cases := map[string]string{tgz: "tar.gz"}
	raw := filepath.Join(dir, "a.tar")
	if out, err := exec.Command("sh", "-c", "gzip -dc "+tgz+" > "+raw).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cases[raw] = "tar"
	pkgs := map[string]string{"xz": "xz-utils", "bzip2": "bzip2", "zstd": "zstd"}
	for tool, ext := range map[string]string{"xz": "xz", "bzip2": "bz2", "zstd": "zst"} {
		testenv.LookPath(t, tool, pkgs[tool])
		out := raw + "." + ext
		if b, err := exec.Command("sh", "-c", tool+" -c "+raw+" > "+out).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", tool, err, b)
		}
		cases[out] = "tar." + ext
	}
	cpio := filepath.Join(dir, "initramfs.cpio.gz")
	os.WriteFile(cpio, cpioGz(t, sampleTree), 0o644)
	cases[cpio] = "cpio.gz"
	for file, format := range cases {
		got, m, err := Members(context.Background(), file)
		if err != nil || got != format {
			t.Errorf("%s: format %q, %v", file, got, err)
			continue
		}
		for k, v := range sampleTree {
			name := strings.TrimSuffix(k, "/")
			mem, ok := m[name]
			if !ok {
				t.Errorf("%s: %s missing", format, name)
				continue
			}
			if strings.HasSuffix(k, "/") {
				if mem.Type != "dir" {
					t.Errorf("%s: %s is %s", format, name, mem.Type)
				}
				continue
			}
			if mem.Type != "file" || mem.SHA256 != sum([]byte(v)) || mem.Mode != "0644" || mem.ModTime != fixedTime.Unix() {
				t.Errorf("%s: %s = %+v", format, name, mem)
			}
		}
	}
	if _, m, _ := Members(context.Background(), cpio); m["init"].Type != "symlink" || m["init"].Link != "/sbin/init" {
		t.Errorf("cpio symlink %+v", m["init"])
	}
	plain := filepath.Join(dir, "rootfs.ext4")
	os.WriteFile(plain, bytes.Repeat([]byte{0x53, 0xef}, 4096), 0o644)
	if _, _, err := Members(context.Background(), plain); err != ErrNoMembers {
		t.Errorf("ext4 stand-in: %v", err)
	}
}

// A member whose bytes match but whose timestamp moved is reported as a
// metadata difference (the usual reproducibility bug).
func TestCompareReportsMetadataOnlyChange(t *testing.T) {
	a := tarGz(t, sampleTree)
	saved := fixedTime
	fixedTime = fixedTime.Add(time.Hour)
	b := tarGz(t, sampleTree)
	fixedTime = saved
	da, db := twoTrees(t, "rootfs.tar.gz", a, b)
	r, err := Compare(context.Background(), da, db)
	if err != nil || r.Identical {
		t.Fatalf("%v\n%s", err, r.Text())
	}
	for _, m := range r.Differences[0].Members {
		if m.Status != "metadata differs" || m.Detail != "mtime" {
			t.Errorf("member %+v", m)
		}
	}
	if len(r.Differences[0].Members) != len(sampleTree) {
		t.Errorf("%d members reported", len(r.Differences[0].Members))
	}
}

// Missing artifacts on either side and non-archive differences.
func TestCompareArtifactsOnlyOnOneSide(t *testing.T) {
	a, b := twoTrees(t, "dom0-rootfs.ext3.gz", []byte("one"), []byte("two"))
	os.WriteFile(filepath.Join(a, "raw", "extra.bin"), []byte("x"), 0o644)
	r, err := Compare(context.Background(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Identical || len(r.Differences) != 2 || r.Differences[1].Status != "only in a" {
		t.Fatalf("%s", r.Text())
	}
	if d := r.Differences[0]; d.Note == "" || len(d.Members) != 0 {
		t.Errorf("%+v", d)
	}
}
