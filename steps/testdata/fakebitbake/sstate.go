package main

// Shared state, as far as the stand-in models oe-core's sstate.bbclass:
//
//   - the sstate task: an image recipe's do_image_complete (as in oe-core)
//     is backed by an sstate object; other recipes' tasks always run;
//   - the object's hash is derived from the task's real inputs (the same
//     digest that derives its deploy bytes, plus the task name); BitBake's
//     unihash is that taskhash (no hash equivalence server is consulted);
//   - the object's name is oe-core's generate_sstatefn:
//     <h[0:2]>/<h[2:4]>/sstate:<PN>:<PACKAGE_ARCH><TARGET_VENDOR>-<TARGET_OS>:<PV>:<PR>:<SSTATE_PKGARCH>:<SSTATE_VERSION>:<h>_<task>.tar.zst
//     (.tgz before BitBake 2.0), with a <name>.siginfo beside it, in
//     SSTATE_DIR (default ${TOPDIR}/sstate-cache);
//   - before any task runs, every sstate task is looked up in SSTATE_DIR,
//     then along SSTATE_MIRRORS (pairs "file://.* URL", URL with PATH
//     replaced by the object's path; file:// and http(s):// are fetched, a
//     ";downloadfilename=PATH" parameter is understood). A found object is
//     fetched into SSTATE_DIR (temp name, then rename), the "Sstate summary"
//     line is printed, and its do_<task>_setscene runs instead of the task
//     and the tasks it covers (do_rootfs), leaving a buildstats file named
//     do_<task>_setscene as oe-core does;
//   - a built sstate task writes its outputs into a staging dir, packs them
//     into the object (temp name, then rename; never overwriting one that
//     exists) and installs them from the object, so a built and a restored
//     task leave the same bytes (the deploy files, their timestamped names
//     included, as the object recorded them).
//
// What it does not model: the objects are real zstd frames (gzip before
// 2.0) but hold their tar in uncompressed (raw) zstd blocks, and the
// stand-in reads only such frames, so an object made by real BitBake
// cannot be restored by it; siginfo files hold the stand-in's input lines
// as JSON, not BitBake's signature data; no hash equivalence, no
// SSTATE_VERIFY_SIG, no sstate manifests or stamps (a task restored once is
// restored again on the next run, where BitBake would find it current), no
// SSTATE_EXTRAPATH, no name shortening past 254 characters, no
// BB_HASHSERVE. Mirror URLs other than file:// and http(s):// are warned
// about and skipped.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// hashExcluded are configuration variables that are no input of any task:
// oe-core's BB_HASHEXCLUDE_COMMON and BB_BASEHASH_IGNORE_VARS (scarthgap's
// meta/conf/bitbake.conf) plus what only says where sstate and the
// services are (no task references SSTATE_MIRRORS or the server
// addresses, so BitBake's per-task signatures never include them). The
// stand-in hashes the whole configuration, so it leaves these out.
var hashExcluded = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`TMPDIR FILE PATH PWD BB_TASKHASH BBPATH BBSERVER DL_DIR
		THISDIR FILESEXTRAPATHS FILE_DIRNAME HOME LOGNAME SHELL USER FILESPATH COREBASE PRSERV_HOST
		STAMPS_DIR PRSERV_DUMPDIR PRSERV_DUMPFILE PRSERV_LOCKDOWN PARALLEL_MAKE CCACHE_DIR CCACHE
		SSTATE_PKGARCH BB_UNIHASH DEPLOY_DIR SSTATE_HASHEQUIV_METHOD SSTATE_HASHEQUIV_OWNER
		BB_HASHSERVE GIT_CEILING_DIRECTORIES BB_CURRENTTASK SSTATE_DIR BUILDHISTORY_DIR
		BB_NUMBER_THREADS BB_SERVER_TIMEOUT BB_ENV_PASSTHROUGH_ADDITIONS BB_ENV_EXTRAWHITE
		SSTATE_MIRRORS BB_HASHSERVE_UPSTREAM BB_SIGNATURE_HANDLER`) {
		hashExcluded[n] = true
	}
}

// sstate is the sstate configuration of one run.
type sstate struct {
	dir     string
	mirrors [][2]string // (source regex, replacement URL)
	ext     string
	version string // SSTATE_VERSION
	arch    string // PACKAGE_ARCH of machine-specific recipes (MACHINE_ARCH)
	vendor  string // TARGET_VENDOR-TARGET_OS
	in      *inputs
	zstd    bool
}

func newSstate(c *conf, topdir string, v version, in *inputs) *sstate {
	s := &sstate{dir: c.d.get("SSTATE_DIR"), in: in, zstd: v.major >= 2, ext: ".tar.zst", version: "12"}
	if s.dir == "" || strings.Contains(s.dir, "${") {
		s.dir = filepath.Join(topdir, "sstate-cache")
	}
	switch {
	case v.major < 2:
		s.ext, s.version = ".tgz", "3"
	case v.minor < 4:
		s.version = "10"
	}
	machine := c.d.get("MACHINE")
	s.arch = strings.ReplaceAll(machine, "-", "_")
	distro := c.d.get("DISTRO")
	if distro == "" || strings.Contains(distro, "${") {
		distro = "oe"
	}
	s.vendor = "-" + distro + "-linux"
	f := strings.Fields(strings.ReplaceAll(c.d.get("SSTATE_MIRRORS"), `\n`, " "))
	for i := 0; i+1 < len(f); i += 2 {
		s.mirrors = append(s.mirrors, [2]string{f[i], f[i+1]})
	}
	return s
}

// sstateTask says whether task of a recipe is backed by an sstate object.
func sstateTask(r recipe, task string) bool {
	return task == "do_image_complete" && r.vars["IMAGE_FSTYPES"] != ""
}

// covers are the tasks a restored sstate task makes unnecessary.
var covers = map[string][]string{"do_image_complete": {"do_rootfs", "do_image_complete"}}

type sstateObj struct {
	rel, hash string
}

// object names target's task's object (its path relative to SSTATE_DIR).
func (s *sstate) object(target string, r recipe, machine, task string) sstateObj {
	h := sha256.Sum256([]byte("sstate " + s.in.digest(machine, target, r.text) + " " + task))
	hash := hex.EncodeToString(h[:])
	spec := fmt.Sprintf("sstate:%s:%s%s:1.0:r0:%s:%s:", target, s.arch, s.vendor, s.arch, s.version)
	name := spec + hash + "_" + strings.TrimPrefix(task, "do_") + s.ext
	return sstateObj{rel: hash[:2] + "/" + hash[2:4] + "/" + name, hash: hash}
}

// scene is the outcome of the setscene phase.
type scene struct {
	s        *sstate
	restored map[string]bool // target -> its sstate task was restored
	skipped  int
}

// covered says whether the setscene phase made the task unnecessary.
func (sc *scene) covered(target, task string) bool {
	if !sc.restored[target] {
		return false
	}
	for _, t := range covers["do_image_complete"] {
		if t == task {
			return true
		}
	}
	return false
}

// setscene looks up every sstate task of jobs, prints BitBake's summary
// and runs the setscene tasks of those found, writing their buildstats.
func (s *sstate) setscene(jobs []job, recipes map[string]recipe, machine, tmpdir, bsDir string) *scene {
	sc := &scene{s: s, restored: map[string]bool{}}
	type want struct {
		j   job
		obj sstateObj
	}
	var wanted []want
	for _, j := range jobs {
		if sstateTask(recipes[j.target], j.task) {
			wanted = append(wanted, want{j, s.object(j.target, recipes[j.target], machine, j.task)})
		}
	}
	if len(wanted) == 0 {
		fmt.Println("NOTE: No setscene tasks")
		fmt.Println("NOTE: Executing Tasks")
		return sc
	}
	local, mirrored := 0, 0
	var found []want
	for _, w := range wanted {
		switch s.lookup(w.obj) {
		case "local":
			local++
			found = append(found, w)
		case "mirror":
			mirrored++
			found = append(found, w)
		}
	}
	pct := (local + mirrored) * 100 / len(wanted)
	fmt.Printf("Sstate summary: Wanted %d Local %d Mirrors %d Missed %d Current 0 (%d%% match, %d%% complete)\n",
		len(wanted), local, mirrored, len(wanted)-local-mirrored, pct, pct)
	fmt.Println("NOTE: Executing Tasks")
	for i, w := range found {
		if interrupts.Load() > 0 {
			break
		}
		pf := w.j.target + "-1.0-r0"
		task := w.j.task + "_setscene"
		fmt.Printf("NOTE: Running setscene task %d of %d (%s:%s)\n", i+1, len(found), w.j.recipe, task)
		start := time.Now()
		err := s.install(w.obj, filepath.Join(tmpdir, "deploy", "images", machine))
		writeTaskStats(bsDir, pf, task, start, err == nil)
		if err != nil {
			// BitBake falls back to running the real task.
			fmt.Printf("WARNING: Setscene task (%s:%s) failed with exit code '1' - real task will be run instead\n", w.j.recipe, task)
			fmt.Fprintf(os.Stderr, "WARNING: %s: %v\n", w.obj.rel, err)
			continue
		}
		sc.restored[w.j.target] = true
	}
	for _, j := range jobs {
		if sc.covered(j.target, j.task) {
			sc.skipped++
		}
	}
	return sc
}

// deploy runs a task's deploy: an sstate task deploys into a staging dir,
// packs that into its object and installs from the object; any other task
// deploys directly.
func (sc *scene) deploy(j job, r recipe, machine, tmpdir string, write func(tmpdir string)) {
	if j.task == "do_build" && r.vars["IMAGE_FSTYPES"] != "" {
		// An image deploys in do_image_complete (restored or built); a
		// second deploy at do_build would add a newer timestamped file
		// after a restore, so a restored build would differ from a built one.
		return
	}
	if !sstateTask(r, j.task) {
		write(tmpdir)
		return
	}
	s := sc.s
	stage, err := os.MkdirTemp(tmpdir, "sstate-build-")
	if err != nil {
		fail("sstate staging dir: %v", err)
	}
	defer os.RemoveAll(stage)
	write(stage)
	obj := s.object(j.target, r, machine, j.task)
	if err := s.pack(obj, filepath.Join(stage, "deploy", "images", machine), j); err != nil {
		fail("%s: creating sstate object: %v", j.recipe, err)
	}
	if err := s.install(obj, filepath.Join(tmpdir, "deploy", "images", machine)); err != nil {
		fail("%s: installing from sstate object: %v", j.recipe, err)
	}
}

// lookup finds obj in SSTATE_DIR ("local") or fetches it there from the
// first mirror that has it ("mirror"); "" when none has it.
func (s *sstate) lookup(obj sstateObj) string {
	if _, err := os.Stat(filepath.Join(s.dir, obj.rel)); err == nil {
		return "local"
	}
	for _, m := range s.mirrors {
		src, ok := strings.CutPrefix(m[0], "file://")
		if !ok {
			continue
		}
		if re, err := regexp.Compile("^(?:" + src + ")"); err != nil || !re.MatchString(obj.rel) {
			continue
		}
		u, _, _ := strings.Cut(m[1], ";")
		u = strings.ReplaceAll(u, "PATH", obj.rel)
		data, err := fetchURL(u)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				fmt.Printf("WARNING: sstate mirror %s: %v\n", m[1], err)
			}
			continue
		}
		if err := writeNew(filepath.Join(s.dir, obj.rel), data); err != nil {
			fmt.Printf("WARNING: fetching %s into SSTATE_DIR: %v\n", u, err)
			continue
		}
		if sig, err := fetchURL(u + ".siginfo"); err == nil {
			writeNew(filepath.Join(s.dir, obj.rel+".siginfo"), sig)
		}
		return "mirror"
	}
	return ""
}

// fetchURL reads a file:// or http(s):// URL; os.ErrNotExist when the
// object is not there.
func fetchURL(raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		data, err := os.ReadFile(u.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, os.ErrNotExist
		}
		return data, err
	case "http", "https":
		client := &http.Client{Timeout: 30 * time.Second}
		resp, err := client.Get(raw)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, os.ErrNotExist
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", raw, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	return nil, fmt.Errorf("%s: the stand-in fetches sstate only over file:// and http(s)://", raw)
}

// writeNew writes data to path through a temp name and a rename; an
// existing file (another run's identical object) is left alone.
func writeNew(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".sstate-tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	os.Chmod(f.Name(), 0o644)
	return os.Rename(f.Name(), path)
}

// pack writes dir's files (regular files and symlinks, sorted) into obj
// and its .siginfo, unless obj exists.
func (s *sstate) pack(obj sstateObj, dir string, j job) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, rel)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		p := filepath.Join(dir, n)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(n), Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case st.Mode()&os.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			if h.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		case st.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			tw.Write(data)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	data, err := s.compress(buf.Bytes())
	if err != nil {
		return err
	}
	sig, _ := json.MarshalIndent(map[string]any{"task": j.task, "recipe": j.recipe, "taskhash": obj.hash, "unihash": obj.hash, "inputs": s.in.lines}, "", " ")
	if err := writeNew(filepath.Join(s.dir, obj.rel+".siginfo"), sig); err != nil {
		return err
	}
	return writeNew(filepath.Join(s.dir, obj.rel), data)
}

// install unpacks obj from SSTATE_DIR into dest (replacing what is there).
func (s *sstate) install(obj sstateObj, dest string) error {
	data, err := os.ReadFile(filepath.Join(s.dir, obj.rel))
	if err != nil {
		return err
	}
	raw, err := s.decompress(data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("object member %q escapes the install dir", h.Name)
		}
		p := filepath.Join(dest, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		os.Remove(p)
		switch h.Typeflag {
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, 0o644)
			}
		default:
			err = fmt.Errorf("object member %q: unsupported type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}

// zstd frames with raw blocks: magic, a frame header without content size
// (window 128 KiB), then blocks of at most 128 KiB, the last one flagged.
const (
	zstdMagic    = 0xFD2FB528
	zstdMaxBlock = 128 << 10
)

func (s *sstate) compress(tarData []byte) ([]byte, error) {
	if !s.zstd {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(tarData)
		err := zw.Close()
		return b.Bytes(), err
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(zstdMagic))
	b.Write([]byte{0x00, 0x38}) // descriptor; window descriptor 2^17
	for off := 0; ; off += zstdMaxBlock {
		end := min(off+zstdMaxBlock, len(tarData))
		last := uint32(0)
		if end == len(tarData) {
			last = 1
		}
		hdr := last | uint32(end-off)<<3 // block type 0: raw
		b.Write([]byte{byte(hdr), byte(hdr >> 8), byte(hdr >> 16)})
		b.Write(tarData[off:end])
		if last == 1 {
			return b.Bytes(), nil
		}
	}
}

func (s *sstate) decompress(data []byte) ([]byte, error) {
	if !s.zstd {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	if len(data) < 6 || binary.LittleEndian.Uint32(data) != zstdMagic || data[4] != 0x00 {
		return nil, errors.New("not a zstd frame the stand-in wrote (it reads only raw-block frames)")
	}
	var out []byte
	for p := 6; ; {
		if p+3 > len(data) {
			return nil, errors.New("truncated zstd frame")
		}
		hdr := uint32(data[p]) | uint32(data[p+1])<<8 | uint32(data[p+2])<<16
		p += 3
		size := int(hdr >> 3)
		if (hdr>>1)&3 != 0 {
			return nil, errors.New("compressed zstd block: the stand-in reads only raw blocks")
		}
		if p+size > len(data) {
			return nil, errors.New("truncated zstd block")
		}
		out = append(out, data[p:p+size]...)
		p += size
		if hdr&1 == 1 {
			return out, nil
		}
	}
}
