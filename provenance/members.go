package provenance

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"
)

// Member is one entry of an archive or filesystem image.
type Member struct {
	Type    string `json:"type"` // file, dir, symlink, other
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256,omitempty"` // of the content, for files
	Mode    string `json:"mode,omitempty"`   // permission bits, octal
	ModTime int64  `json:"mtime"`            // Unix seconds
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	Link    string `json:"link,omitempty"` // symlink target
}

// ErrNoMembers says a file is in no format whose members compare knows.
var ErrNoMembers = errors.New("not a tar, cpio or ISO9660 image")

// compression magic numbers.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXZ    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Members lists the members of a tar (plain, gzip, bzip2, xz or zstd
// compressed), cpio newc (an initramfs; concatenated archives are read in
// turn) or ISO9660 file, keyed by path, and names the format found.
func Members(ctx context.Context, file string) (string, map[string]Member, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", nil, err
	}
	var r io.Reader
	var comp string
	var wait func() error
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			return "", nil, fmt.Errorf("gzip: %w", err)
		}
		r, comp = zr, ".gz"
	case bytes.HasPrefix(head, magicBzip2):
		r, comp = bzip2.NewReader(bufio.NewReader(f)), ".bz2"
	case bytes.HasPrefix(head, magicXZ):
		r, wait, err = decompressCLI(ctx, "xz", f)
		comp = ".xz"
	case bytes.HasPrefix(head, magicZstd):
		r, wait, err = decompressCLI(ctx, "zstd", f)
		comp = ".zst"
	default:
		// Uncompressed: an ISO is read in place.
		if isISO(f) {
			m, err := isoMembers(f)
			return "iso9660", m, err
		}
		r = f
	}
	if err != nil {
		return "", nil, err
	}
	format, m, err := streamMembers(ctx, r, comp)
	if wait != nil {
		// A reader that stopped early leaves the tool blocked on its pipe;
		// its exit status only matters when we read everything.
		if werr := wait(); werr != nil && err == nil && format != "" {
			err = werr
		}
	}
	return format, m, err
}

// decompressCLI streams a file through `tool -dc` (xz and zstd have no
// reader in the standard library).
func decompressCLI(ctx context.Context, tool string, in io.Reader) (io.Reader, func() error, error) {
	cmd := exec.CommandContext(ctx, tool, "-dc")
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w (install %s)", tool, err, tool)
	}
	wait := func() error {
		io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("%s -dc: %w: %s", tool, err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	return out, wait, nil
}

// streamMembers sniffs a decompressed stream. A compressed ISO is spilled
// to a temporary file, since ISO9660 needs random access.
func streamMembers(ctx context.Context, r io.Reader, comp string) (string, map[string]Member, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	head, _ := br.Peek(512)
	switch {
	case len(head) >= 6 && (string(head[:6]) == "070701" || string(head[:6]) == "070702"):
		m, err := cpioMembers(br)
		return "cpio" + comp, m, err
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		m, err := tarMembers(br)
		return "tar" + comp, m, err
	case comp == "":
		return "", nil, ErrNoMembers
	}
	tmp, err := os.CreateTemp("", "xtbuild-compare-*")
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, br); err != nil {
		return "", nil, err
	}
	if !isISO(tmp) {
		return "", nil, ErrNoMembers
	}
	m, err := isoMembers(tmp)
	return "iso9660" + comp, m, err
}

func hashN(r io.Reader, n int64) (string, error) {
	h := sha256.New()
	if _, err := io.CopyN(h, r, n); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// addMember records m under name, keeping repeated names apart.
func addMember(out map[string]Member, name string, m Member) {
	key := name
	for i := 2; ; i++ {
		if _, dup := out[key]; !dup {
			break
		}
		key = fmt.Sprintf("%s#%d", name, i)
	}
	out[key] = m
}

func cleanName(n string) string {
	n = strings.TrimPrefix(n, "./")
	if n == "" || n == "." {
		return "."
	}
	return path.Clean(n)
}

func tarMembers(r io.Reader) (map[string]Member, error) {
	out := map[string]Member{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("tar: %w", err)
		}
		m := Member{Size: h.Size, Mode: fmt.Sprintf("%04o", h.Mode&0o7777), ModTime: h.ModTime.Unix(), UID: h.Uid, GID: h.Gid}
		switch h.Typeflag {
		case tar.TypeReg:
			m.Type = "file"
			if m.SHA256, err = hashN(tr, h.Size); err != nil {
				return out, fmt.Errorf("tar: %s: %w", h.Name, err)
			}
		case tar.TypeDir:
			m.Type = "dir"
		case tar.TypeSymlink, tar.TypeLink:
			m.Type, m.Link = "symlink", h.Linkname
			if h.Typeflag == tar.TypeLink {
				m.Type = "hardlink"
			}
		default:
			m.Type = "other"
		}
		addMember(out, cleanName(h.Name), m)
	}
}

// cpio newc ("070701", or "070702" with checksums): a 110-byte ASCII header
// of the magic and 13 eight-digit hex fields, the NUL-terminated name, and
// the data, name and data each padded to 4 bytes. "TRAILER!!!" ends an
// archive; an initramfs may concatenate several, separated by zero padding.
func cpioMembers(r *bufio.Reader) (map[string]Member, error) {
	out := map[string]Member{}
	var pos int64
	skip := func(n int64) error {
		k, err := io.CopyN(io.Discard, r, n)
		pos += k
		return err
	}
	for {
		// Zero padding between concatenated archives.
		for {
			b, err := r.Peek(1)
			if err == io.EOF || len(b) == 0 {
				return out, nil
			}
			if b[0] != 0 {
				break
			}
			if err := skip(1); err != nil {
				return out, nil
			}
		}
		hdr := make([]byte, 110)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return out, fmt.Errorf("cpio: header at %d: %w", pos, err)
		}
		pos += 110
		magic := string(hdr[:6])
		if magic != "070701" && magic != "070702" {
			// Not newc: e.g. a compressed archive appended to an
			// uncompressed early one. Stop; what was read stands.
			return out, fmt.Errorf("cpio: no newc header at offset %d (magic %q)", pos-110, magic)
		}
		var f [13]uint64
		for i := range f {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return out, fmt.Errorf("cpio: bad header field at %d: %w", pos-110, err)
			}
			f[i] = v
		}
		mode, uid, gid, mtime, size, namesize := f[1], f[2], f[3], f[5], int64(f[6]), int64(f[11])
		if namesize == 0 || namesize > 4096 {
			return out, fmt.Errorf("cpio: bad name size %d at %d", namesize, pos-110)
		}
		name := make([]byte, namesize)
		if _, err := io.ReadFull(r, name); err != nil {
			return out, fmt.Errorf("cpio: name: %w", err)
		}
		pos += namesize
		if err := skip(pad4(pos)); err != nil {
			return out, fmt.Errorf("cpio: %w", err)
		}
		n := strings.TrimRight(string(name), "\x00")
		if n == "TRAILER!!!" {
			continue
		}
		m := Member{Size: size, Mode: fmt.Sprintf("%04o", mode&0o7777), ModTime: int64(mtime), UID: int(uid), GID: int(gid)}
		switch mode & 0o170000 {
		case 0o100000:
			m.Type = "file"
			sum, err := hashN(r, size)
			if err != nil {
				return out, fmt.Errorf("cpio: %s: %w", n, err)
			}
			m.SHA256 = sum
			pos += size
		case 0o120000:
			m.Type = "symlink"
			if size > 4096 {
				return out, fmt.Errorf("cpio: %s: symlink target of %d bytes", n, size)
			}
			link := make([]byte, size)
			if _, err := io.ReadFull(r, link); err != nil {
				return out, fmt.Errorf("cpio: %s: %w", n, err)
			}
			m.Link = string(link)
			pos += size
		case 0o040000:
			m.Type = "dir"
			if err := skip(size); err != nil {
				return out, err
			}
		default:
			m.Type = "other"
			if err := skip(size); err != nil {
				return out, err
			}
		}
		if err := skip(pad4(pos)); err != nil && size > 0 {
			return out, fmt.Errorf("cpio: %w", err)
		}
		addMember(out, cleanName(n), m)
	}
}

func pad4(pos int64) int64 { return (4 - pos%4) % 4 }

// ISO9660: 2048-byte sectors; volume descriptors from sector 16, the
// primary one (type 1, "CD001") holding the root directory record at byte
// 156. Directory records give extent, size, date, flags and name; Rock
// Ridge NM and PX entries in the system use area give the real name and
// mode, which xorriso and genisoimage -R write.
const isoSector = 2048

func isISO(ra io.ReaderAt) bool {
	id := make([]byte, 5)
	_, err := ra.ReadAt(id, 16*isoSector+1)
	return err == nil && string(id) == "CD001"
}

func isoMembers(ra io.ReaderAt) (map[string]Member, error) {
	out := map[string]Member{}
	var pvd []byte
	for s := int64(16); s < 16+64; s++ {
		vd := make([]byte, isoSector)
		if _, err := ra.ReadAt(vd, s*isoSector); err != nil {
			return out, fmt.Errorf("iso9660: volume descriptor %d: %w", s, err)
		}
		if string(vd[1:6]) != "CD001" {
			return out, fmt.Errorf("iso9660: sector %d is not a volume descriptor", s)
		}
		if vd[0] == 1 {
			pvd = vd
			break
		}
		if vd[0] == 255 {
			break
		}
	}
	if pvd == nil {
		return out, errors.New("iso9660: no primary volume descriptor")
	}
	bs := int64(binary.LittleEndian.Uint16(pvd[128:]))
	if bs == 0 {
		bs = isoSector
	}
	root := pvd[156 : 156+34]
	w := &isoWalker{ra: ra, bs: bs, out: out, seen: map[uint32]bool{}}
	err := w.dir(binary.LittleEndian.Uint32(root[2:]), binary.LittleEndian.Uint32(root[10:]), "", 0)
	return out, err
}

type isoWalker struct {
	ra   io.ReaderAt
	bs   int64
	out  map[string]Member
	seen map[uint32]bool
}

func (w *isoWalker) dir(lba, size uint32, prefix string, depth int) error {
	if depth > 64 || w.seen[lba] {
		return fmt.Errorf("iso9660: directory loop at %q", prefix)
	}
	w.seen[lba] = true
	if size > 64<<20 {
		return fmt.Errorf("iso9660: directory %q claims %d bytes", prefix, size)
	}
	data := make([]byte, size)
	if _, err := w.ra.ReadAt(data, int64(lba)*w.bs); err != nil {
		return fmt.Errorf("iso9660: directory %q: %w", prefix, err)
	}
	type pending struct {
		name    string
		m       Member
		extents [][2]uint32
	}
	var multi *pending
	for off := 0; off < len(data); {
		rl := int(data[off])
		if rl == 0 {
			// Records do not cross sectors: skip to the next one.
			off = (off/int(w.bs) + 1) * int(w.bs)
			continue
		}
		if rl < 34 || off+rl > len(data) {
			return fmt.Errorf("iso9660: bad directory record in %q", prefix)
		}
		rec := data[off : off+rl]
		off += rl
		nl := int(rec[32])
		if 33+nl > rl {
			return fmt.Errorf("iso9660: bad name length in %q", prefix)
		}
		raw := rec[33 : 33+nl]
		if nl == 1 && (raw[0] == 0 || raw[0] == 1) {
			continue // "." and ".."
		}
		su := rec[33+nl:]
		if nl%2 == 0 && len(su) > 0 {
			su = su[1:]
		}
		name, mode := rockRidge(su)
		if name == "" {
			name = strings.TrimSuffix(strings.SplitN(string(raw), ";", 2)[0], ".")
		}
		full := name
		if prefix != "" {
			full = prefix + "/" + name
		}
		ext := binary.LittleEndian.Uint32(rec[2:])
		dlen := binary.LittleEndian.Uint32(rec[10:])
		flags := rec[25]
		m := Member{ModTime: isoTime(rec[18:25]), Mode: mode}
		if flags&0x02 != 0 {
			m.Type = "dir"
			addMember(w.out, full, m)
			if err := w.dir(ext, dlen, full, depth+1); err != nil {
				return err
			}
			continue
		}
		if multi == nil {
			multi = &pending{name: full, m: m}
		}
		multi.extents = append(multi.extents, [2]uint32{ext, dlen})
		if flags&0x80 != 0 {
			continue // more extents of this file follow
		}
		p := multi
		multi = nil
		p.m.Type = "file"
		h := sha256.New()
		for _, e := range p.extents {
			if _, err := io.Copy(h, io.NewSectionReader(w.ra, int64(e[0])*w.bs, int64(e[1]))); err != nil {
				return fmt.Errorf("iso9660: %s: %w", p.name, err)
			}
			p.m.Size += int64(e[1])
		}
		p.m.SHA256 = hex.EncodeToString(h.Sum(nil))
		addMember(w.out, p.name, p.m)
	}
	return nil
}

// rockRidge returns the NM name and PX permission bits of a system use
// area (SUSP entries: 2-byte signature, length, version, data).
func rockRidge(su []byte) (name, mode string) {
	for len(su) >= 4 {
		l := int(su[2])
		if l < 4 || l > len(su) {
			break
		}
		e := su[:l]
		switch string(e[:2]) {
		case "NM":
			if l > 5 && e[4]&0x06 == 0 { // not "." or ".."
				name += string(e[5:])
			}
		case "PX":
			if l >= 12 {
				mode = fmt.Sprintf("%04o", binary.LittleEndian.Uint32(e[4:])&0o7777)
			}
		}
		su = su[l:]
	}
	return name, mode
}

// isoTime decodes a 7-byte directory record date (years since 1900, month,
// day, hour, minute, second, offset from GMT in 15-minute units).
func isoTime(b []byte) int64 {
	t := time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, time.UTC)
	return t.Unix() - int64(int8(b[6]))*15*60
}
