// Package upload publishes a finished build directory (build-output/<NAME>:
// repository, ISO, netboot, update, manifest.json, provenance) to a local
// directory, an NFS mount or an SFTP server.
//
// The layout at the destination follows OpenXT's copy step:
//
//	<dest>/<branch>/<NAME>/          the published build, complete and verified
//	<dest>/<branch>/.<NAME>.partial/ an upload in progress or interrupted (resumable)
//	<dest>/<branch>/latest           symlink to <NAME>, replaced atomically last
//
// Every file is written into the partial directory, hashed where it is
// stored and compared with the local sha256, given explicit permissions,
// and only then is the directory renamed to its final name, so readers of
// <NAME> never see a half build. manifest.json goes last. Over SFTP the
// new files go as one tar stream when the server can take it
// (tar_sftp.go), else file by file.
package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/term"
)

// Defaults for Options.
const (
	DefaultDirMode  fs.FileMode = 0o755
	DefaultFileMode fs.FileMode = 0o644
	DefaultRetries              = 5
	DefaultParallel             = 4
	// LatestName is the pointer to the newest build of a branch.
	LatestName = "latest"
)

// Options say what to publish and where.
type Options struct {
	Src    string // the build directory, e.g. build-output/<NAME>
	Name   string // published name; empty uses the base name of Src
	Dest   string // file:///path or sftp://[user@]host[:port]/path
	Branch string // the build's branch: <dest>/<branch>/<NAME>

	KnownHosts string // known_hosts file; empty: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
	Identity   string // SSH private key; empty: ~/.ssh/id_ed25519, id_ecdsa, id_rsa (and ssh-agent)

	DirMode  fs.FileMode // 0 means DefaultDirMode
	FileMode fs.FileMode // 0 means DefaultFileMode

	Term *term.Term // progress and messages; nil prints nothing
	// Log receives diagnostics (nil: slog.Default()).
	Log *slog.Logger

	// Retries after transient network failures (reset, timeout, lost
	// connection); 0 means DefaultRetries, negative means none.
	Retries int
	// RetryDelay is the first backoff; it doubles per retry up to 30s.
	// 0 means one second.
	RetryDelay time.Duration
	Parallel   int // files in flight; 0 means DefaultParallel
	// Verify selects how SFTP destinations are hashed: "" (auto: hash on
	// the server with openssl or sha256sum over an exec channel when the
	// account allows it, else read back) or "readback".
	Verify   string
	NoLatest bool // leave <dest>/<branch>/latest alone
	// Transport selects how SFTP destinations receive new files: "" or
	// "auto" (one tar stream over an exec channel, see tar_sftp.go, when
	// the account may run commands and the server has GNU tar, else SFTP)
	// or "sftp" (always file by file over SFTP).
	Transport string

	// sendHook, for tests, sees the running total of bytes sent.
	sendHook func(total int64)
	// ignoreManifest, for the benchmark, hashes every file while sending.
	ignoreManifest bool
}

// Stats describe one Publish.
type Stats struct {
	Dest         string // the final URL of the build
	Files        int    // regular files in the build
	Bytes        int64  // their total size
	Sent         int64  // bytes written to the destination, all attempts
	SentFiles    int    // files written (fully or resumed)
	Skipped      int64  // bytes found on the destination already, verified, not sent
	SkippedFiles int
	Verified     int // file hashes compared at the destination
	// Streamed counts the files sent in a tar stream (see tar_sftp.go)
	// rather than written one by one over SFTP.
	Streamed int
	// Resent counts files sent once more after their hash at the
	// destination did not match.
	Resent int
	// FromManifest counts sent files whose local sha256 came from the
	// build's manifest.json instead of hashing them here; HashedReceiving
	// those hashed at the destination while they arrived.
	FromManifest     int
	HashedReceiving  int
	Attempts         int
	AlreadyPublished bool // the final name already held this exact build
	Elapsed          time.Duration
}

// ParseMode reads an octal permission string such as "0755".
func ParseMode(s string) (fs.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return 0, fmt.Errorf("mode %q: want octal permissions such as 0755", s)
	}
	return fs.FileMode(n), nil
}

// OptionsFromConfig fills the destination, keys and modes from the
// configuration; the caller adds Src, Name and Term.
func OptionsFromConfig(c *config.Config) (Options, error) {
	o := Options{
		Dest:       c.Upload.Destination,
		Branch:     c.Build.Branch,
		KnownHosts: c.Upload.KnownHosts,
		Identity:   c.Upload.Identity,
		Transport:  c.Upload.Transport,
	}
	var err error
	if o.DirMode, err = ParseMode(c.Upload.DirMode); err != nil {
		return o, fmt.Errorf("upload.dir_mode: %w", err)
	}
	if o.FileMode, err = ParseMode(c.Upload.FileMode); err != nil {
		return o, fmt.Errorf("upload.file_mode: %w", err)
	}
	return o, nil
}

// ErrDifferentBuild is returned when the final name already holds a build
// with other content: published builds are never overwritten.
var ErrDifferentBuild = errors.New("destination already holds a different build under this name")

// smallFilesInFlight is how many files of one group are written at once.
const smallFilesInFlight = 8

// resumeMargin is how far before the end of a partially written file the
// upload restarts: concurrent SFTP writes may land out of order, so the
// last window of the file is not trusted. The full-file hash check catches
// anything else.
const resumeMargin = 2 * sftpConcurrency * 32 << 10

// Publish uploads the build o.Src to o.Dest as <branch>/<name>, resuming an
// interrupted upload, and returns what it did. On a cancelled context it
// returns promptly, leaving the partial directory for the next run.
func Publish(ctx context.Context, o Options) (Stats, error) {
	start := time.Now()
	var st Stats
	p, err := prepare(o)
	if err != nil {
		return st, err
	}
	st.Dest = p.dest.String() + "/" + p.branch + "/" + p.name
	st.Files, st.Bytes = len(p.tree.files), p.tree.bytes
	retries := o.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	for attempt := 0; ; attempt++ {
		st.Attempts++
		err = p.attempt(ctx, &st)
		if err == nil {
			st.Elapsed = time.Since(start)
			p.t.Printf("upload: %s: %s in %d files; sent %s, skipped %s already there; %s",
				st.Dest, term.Bytes(st.Bytes), st.Files, term.Bytes(st.Sent), term.Bytes(st.Skipped), st.Elapsed.Round(time.Millisecond))
			return st, nil
		}
		if ctx.Err() != nil {
			st.Elapsed = time.Since(start)
			return st, fmt.Errorf("upload to %s interrupted; run it again to resume from %s: %w", st.Dest, p.partialURL(), context.Cause(ctx))
		}
		if !isTransient(err) || attempt >= retries {
			st.Elapsed = time.Since(start)
			return st, err
		}
		wait := backoff(attempt, o.RetryDelay)
		p.t.Printf("upload: %v; retrying in %s (retry %d of %d)", err, wait.Round(100*time.Millisecond), attempt+1, retries)
		if err := sleepCtx(ctx, wait); err != nil {
			return st, fmt.Errorf("upload to %s interrupted; run it again to resume from %s: %w", st.Dest, p.partialURL(), err)
		}
	}
}

type publisher struct {
	o                    Options
	t                    *term.Term
	dest                 Destination
	name, branch         string
	base, final, partial string
	dirMode, fileMode    fs.FileMode
	tree                 *sourceTree
	parallel             int
	sentEver             map[string]bool // files this Publish has written, across attempts
	stale                map[string]bool // files whose manifest sum turned out wrong
	sentMu               sync.Mutex
	totalSent            atomic.Int64
}

func prepare(o Options) (*publisher, error) {
	p := &publisher{o: o, t: o.Term, sentEver: map[string]bool{}, stale: map[string]bool{}}
	if p.t == nil {
		p.t = term.NewPlain(io.Discard)
	}
	if o.Src == "" {
		return nil, errors.New("upload: no build directory given")
	}
	src, err := filepath.Abs(o.Src)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	p.name = o.Name
	if p.name == "" {
		p.name = filepath.Base(src)
	}
	if err := checkComponent("build name", p.name); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	p.branch = strings.Trim(o.Branch, "/")
	if err := checkBranch(p.branch); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if o.Dest == "" {
		return nil, errors.New("upload: no destination: set upload.destination or XTBUILD_UPLOAD_DESTINATION")
	}
	if p.dest, err = ParseDestination(o.Dest); err != nil {
		return nil, err
	}
	switch o.Transport {
	case "", "auto", "sftp":
	default:
		return nil, fmt.Errorf("upload: transport %q: want auto or sftp", o.Transport)
	}
	if o.Verify != "" && o.Verify != "readback" {
		return nil, fmt.Errorf("upload: verify mode %q: want empty (auto) or readback", o.Verify)
	}
	p.dirMode, p.fileMode = o.DirMode.Perm(), o.FileMode.Perm()
	if p.dirMode == 0 {
		p.dirMode = DefaultDirMode
	}
	if p.fileMode == 0 {
		p.fileMode = DefaultFileMode
	}
	if p.dirMode&0o700 != 0o700 {
		return nil, fmt.Errorf("upload: directory mode %#o would lock the uploader out of its own directories", p.dirMode)
	}
	if p.tree, err = readSource(src); err != nil {
		return nil, err
	}
	if o.ignoreManifest {
		p.tree.untrust("ignored on request")
	}
	p.parallel = o.Parallel
	if p.parallel <= 0 {
		p.parallel = DefaultParallel
	}
	if p.tree.manifestNote != "" {
		p.t.Printf("upload: no build hashes to reuse (%s); hashing files while sending them", p.tree.manifestNote)
	} else {
		p.t.Printf("upload: %d of %d files have a sha256 in %s that stands in for hashing them here", p.tree.listed, len(p.tree.files), ManifestName)
	}
	p.base = path.Join(p.dest.Path, p.branch)
	p.final = path.Join(p.base, p.name)
	p.partial = path.Join(p.base, "."+p.name+".partial")
	return p, nil
}

func (p *publisher) partialURL() string {
	return p.dest.String() + "/" + p.branch + "/." + p.name + ".partial"
}

func (p *publisher) open(ctx context.Context) (backend, error) {
	if p.dest.Scheme == "file" {
		return localBackend{}, nil
	}
	conn, err := dialSSH(ctx, p.dest, sshSettings{knownHosts: p.o.KnownHosts, identity: p.o.Identity})
	if err != nil {
		return nil, err
	}
	streamDir := ""
	if p.o.Transport != "sftp" {
		streamDir = p.partial
	}
	return newSFTPBackend(ctx, conn, p.dest, p.o.Verify, streamDir)
}

// fail names the file and destination, and marks the error transient when
// the connection under it is gone.
func (p *publisher) fail(b backend, what, remote string, err error) error {
	if err == nil {
		return nil
	}
	msg := fmt.Errorf("%s %s at %s: %w", what, remote, p.dest.String(), err)
	_, local := b.(localBackend)
	if isTransient(err) || (b != nil && !local && (isNetworkFailure(err) || b.broken())) {
		return transient(msg)
	}
	return msg
}

func (p *publisher) attempt(ctx context.Context, st *Stats) error {
	b, err := p.open(ctx)
	if err != nil {
		return err
	}
	defer b.close()
	if err := p.mkdirAll(ctx, b, p.base); err != nil {
		return err
	}
	if _, err := b.lstat(ctx, p.final); err == nil {
		if err := p.compareFinal(ctx, b, st); err != nil {
			return err
		}
		st.AlreadyPublished = true
		p.t.Printf("upload: %s/%s/%s is already published with identical content", p.dest.String(), p.branch, p.name)
		return p.updateLatest(ctx, b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return p.fail(b, "stat", p.final, err)
	}

	slog.Debug("upload: connected")
	existing, err := p.preparePartial(ctx, b)
	if err != nil {
		return err
	}
	slog.Debug("upload: partial directory ready")
	plan, err := p.planFiles(ctx, b, existing, st)
	if err != nil {
		return err
	}
	// Symlinks first: they may dangle until their targets arrive, and a
	// tar stream's flush at its end then covers them too.
	if err := p.placeLinks(ctx, b, existing); err != nil {
		return err
	}
	flushed, err := p.sendAll(ctx, b, plan, st)
	if err != nil {
		return err
	}
	slog.Debug("upload: files sent and verified", "flushed", flushed)
	// Every file durable before the rename makes the build visible.
	if !flushed {
		files := make([]string, len(p.tree.files))
		for i, f := range p.tree.files {
			files[i] = path.Join(p.partial, f.rel)
		}
		if err := b.syncTree(ctx, p.partial, files); err != nil {
			return p.fail(b, "sync", p.partial, err)
		}
	}
	if err := b.chmod(ctx, p.partial, p.dirMode); err != nil {
		return p.fail(b, "chmod", p.partial, err)
	}
	if err := b.rename(ctx, p.partial, p.final); err != nil {
		return p.fail(b, "rename into place", p.final, err)
	}
	if err := b.syncDir(ctx, p.base); err != nil {
		return p.fail(b, "sync", p.base, err)
	}
	return p.updateLatest(ctx, b)
}

// mkdirAll creates missing directories with the upload's directory mode.
// Directories that already exist keep their modes: they are not ours.
func (p *publisher) mkdirAll(ctx context.Context, b backend, dir string) error {
	ri, err := b.lstat(ctx, dir)
	if err == nil {
		if ri.kind != kindDir {
			return fmt.Errorf("%s at %s exists and is not a directory", dir, p.dest.String())
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return p.fail(b, "stat", dir, err)
	}
	if parent := path.Dir(dir); parent != dir {
		if err := p.mkdirAll(ctx, b, parent); err != nil {
			return err
		}
	}
	if err := b.mkdir(ctx, dir, p.dirMode); err != nil {
		if _, serr := b.lstat(ctx, dir); serr == nil { // created meanwhile by another upload
			return nil
		}
		return p.fail(b, "create directory", dir, err)
	}
	return nil
}

// preparePartial creates or reopens the partial directory, makes its tree
// match the build's directories, and removes anything the build does not
// contain (left from an upload of different content under this name).
func (p *publisher) preparePartial(ctx context.Context, b backend) (map[string]remoteInfo, error) {
	existing := map[string]remoteInfo{}
	ri, err := b.lstat(ctx, p.partial)
	switch {
	case err == nil && ri.kind == kindDir:
		if existing, err = b.list(ctx, p.partial); err != nil {
			return nil, p.fail(b, "list", p.partial, err)
		}
		p.t.Printf("upload: resuming from %s (%d entries already there)", p.partialURL(), len(existing))
	case err == nil:
		return nil, fmt.Errorf("%s at %s exists and is not a directory", p.partial, p.dest.String())
	case errors.Is(err, fs.ErrNotExist):
		// Private while incomplete; opened up just before the rename.
		if err := b.mkdir(ctx, p.partial, 0o700); err != nil {
			return nil, p.fail(b, "create directory", p.partial, err)
		}
	default:
		return nil, p.fail(b, "stat", p.partial, err)
	}

	want := map[string]kind{}
	for _, d := range p.tree.dirs {
		want[d] = kindDir
	}
	for _, f := range p.tree.files {
		want[f.rel] = kindFile
	}
	for _, l := range p.tree.links {
		want[l.rel] = kindLink
	}
	// Remove strays, shallowest first, so a removed directory takes its
	// contents with it.
	var rels []string
	for r := range existing {
		rels = append(rels, r)
	}
	sort.Strings(rels)
	var removed []string
	for _, r := range rels {
		if under(r, removed) {
			delete(existing, r)
			continue
		}
		k, ok := want[r]
		if ok && k == existing[r].kind {
			continue
		}
		if err := b.removeAll(ctx, path.Join(p.partial, r)); err != nil {
			return nil, p.fail(b, "remove stale", path.Join(p.partial, r), err)
		}
		removed = append(removed, r)
		delete(existing, r)
	}
	for _, d := range p.tree.dirs {
		full := path.Join(p.partial, d)
		if _, ok := existing[d]; ok {
			if err := b.chmod(ctx, full, p.dirMode); err != nil {
				return nil, p.fail(b, "chmod", full, err)
			}
			continue
		}
		if err := b.mkdir(ctx, full, p.dirMode); err != nil {
			return nil, p.fail(b, "create directory", full, err)
		}
	}
	return existing, nil
}

func under(r string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(r, d+"/") {
			return true
		}
	}
	return false
}

// job is one file to write, from offset (0: from scratch).
type job struct {
	f      fileEntry
	offset int64
}

type filePlan struct {
	groups   [][]job
	manifest *job
	toSend   int64
}

// planFiles decides per file: skip (same size and hash already there),
// resume (a shorter prefix is there) or send.
func (p *publisher) planFiles(ctx context.Context, b backend, existing map[string]remoteInfo, st *Stats) (*filePlan, error) {
	var candidates []fileEntry
	var jobs []job
	for _, f := range p.tree.files {
		ri, ok := existing[f.rel]
		switch {
		case ok && ri.kind == kindFile && ri.size == f.size:
			candidates = append(candidates, f)
		case ok && ri.kind == kindFile && ri.size < f.size && ri.size > resumeMargin:
			jobs = append(jobs, job{f: f, offset: ri.size - resumeMargin})
		default:
			jobs = append(jobs, job{f: f})
		}
	}
	if len(candidates) > 0 {
		p.t.Printf("upload: checking %d file(s) already at the destination", len(candidates))
		same, err := p.sameContent(ctx, b, p.partial, candidates)
		if err != nil {
			return nil, err
		}
		for i, f := range candidates {
			if !same[i] {
				jobs = append(jobs, job{f: f})
				continue
			}
			// Fix modes too: a file left by a run with other settings (or
			// an interrupted chmod) must not be published with them.
			full := path.Join(p.partial, f.rel)
			if existing[f.rel].mode != p.fileMode {
				if err := b.chmod(ctx, full, p.fileMode); err != nil {
					return nil, p.fail(b, "chmod", full, err)
				}
			}
			st.Verified++
			p.sentMu.Lock()
			counted := p.sentEver[f.rel]
			p.sentMu.Unlock()
			if !counted {
				st.Skipped += f.size
				st.SkippedFiles++
			}
		}
	}
	// Keep the big-first order from the source walk.
	order := map[string]int{}
	for i, f := range p.tree.files {
		order[f.rel] = i
	}
	sort.SliceStable(jobs, func(i, j int) bool { return order[jobs[i].f.rel] < order[jobs[j].f.rel] })

	plan := &filePlan{}
	var rest []job
	for _, j := range jobs {
		plan.toSend += j.f.size - j.offset
		if j.f.rel == ManifestName {
			jj := j
			plan.manifest = &jj
			continue
		}
		rest = append(rest, j)
	}
	plan.groups = groupJobs(rest)
	return plan, nil
}

// groupJobs cuts jobs into the groups sendGroup writes and verifies
// together: up to 64 files or 8 MiB.
func groupJobs(jobs []job) [][]job {
	const groupFiles, groupBytes = 64, 8 << 20
	var groups [][]job
	var cur []job
	var curBytes int64
	for _, j := range jobs {
		if len(cur) > 0 && (len(cur) == groupFiles || curBytes+j.f.size > groupBytes) {
			groups = append(groups, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, j)
		curBytes += j.f.size
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// sameContent hashes files at the destination (under root) and here at the
// same time and reports which match. Files with a trusted manifest sum are
// not hashed here unless the destination disagrees with it.
func (p *publisher) sameContent(ctx context.Context, b backend, root string, files []fileEntry) ([]bool, error) {
	remote := make([]string, len(files))
	for i, f := range files {
		remote[i] = path.Join(root, f.rel)
	}
	local := make([]sum, len(files))
	var remoteSums []sum
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		// Batches keep one exec per many small files without a single
		// huge command line.
		for i := 0; i < len(remote); i += 256 {
			var total int64
			for _, f := range files[i:min(i+256, len(remote))] {
				total += f.size
			}
			s, err2 := b.hash(gctx, remote[i:min(i+256, len(remote))], total)
			if err = err2; err != nil {
				return p.fail(b, "hash", remote[i], err)
			}
			remoteSums = append(remoteSums, s...)
		}
		return nil
	})
	var next atomic.Int64
	for w := 0; w < 2; w++ {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return nil
				}
				if s, ok := p.listed(files[i]); ok {
					local[i] = s
					continue
				}
				s, err := hashFile(gctx, files[i].local)
				if err != nil {
					return err
				}
				local[i] = s
			}
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	same := make([]bool, len(files))
	for i, f := range files {
		same[i] = local[i] == remoteSums[i]
		if !same[i] && f.listed != nil {
			s, err := p.checkListed(ctx, f)
			if err != nil {
				return nil, err
			}
			same[i] = s == remoteSums[i]
		}
	}
	return same, nil
}

// listed returns f's manifest sum while it is trusted.
func (p *publisher) listed(f fileEntry) (sum, bool) {
	if f.listed == nil {
		return sum{}, false
	}
	p.sentMu.Lock()
	defer p.sentMu.Unlock()
	return *f.listed, !p.stale[f.rel]
}

// checkListed hashes f here after the destination disagreed with its
// manifest sum. A local sum that differs from the manifest's means the
// manifest is stale for f: from then on f's own bytes decide.
func (p *publisher) checkListed(ctx context.Context, f fileEntry) (sum, error) {
	s, err := hashFile(ctx, f.local)
	if err != nil {
		return s, err
	}
	if s != *f.listed {
		p.sentMu.Lock()
		first := !p.stale[f.rel]
		p.stale[f.rel] = true
		p.sentMu.Unlock()
		if first {
			p.t.Printf("upload: warning: %s does not match its sha256 in %s (%x, listed %x); publishing the file as it is",
				f.rel, ManifestName, s, *f.listed)
		}
	}
	return s, nil
}

// sendAll sends and verifies every planned file, manifest.json last. It
// reports whether everything is already durable at the destination (a
// tar stream flushed after the last write), which spares syncTree.
func (p *publisher) sendAll(ctx context.Context, b backend, plan *filePlan, st *Stats) (bool, error) {
	if plan.toSend == 0 {
		return false, nil
	}
	p.t.Printf("upload: sending %s in %d file(s) to %s", term.Bytes(plan.toSend), countJobs(plan), p.partialURL())
	prog := startProgress(p.t, plan.toSend)
	defer prog.finish()
	var mu sync.Mutex
	add := func(local Stats) {
		mu.Lock()
		st.addCounts(local)
		mu.Unlock()
	}
	resent := st.Resent // Stats run over all attempts
	groups := plan.groups
	var fresh []job
	s, ok := b.(streamer)
	if ok && s.streamOK() {
		groups, fresh = splitFresh(groups)
		if plan.manifest != nil && plan.manifest.offset == 0 && len(groups) == 0 {
			// The archive's last member; with resumed files going over
			// SFTP at the same time it waits for them instead.
			fresh = append(fresh, *plan.manifest)
			plan.manifest = nil
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.parallel)
	sendGroups := func(groups [][]job) {
		for _, grp := range groups {
			g.Go(func() error {
				var local Stats
				err := p.sendGroup(gctx, b, grp, &local, prog)
				add(local)
				return err
			})
		}
	}
	sendGroups(groups)
	flushed := false
	if len(fresh) > 0 {
		var err error
		flushed, err = p.sendStream(gctx, b, s, fresh, add, prog)
		if errors.Is(err, errStreamStart) && gctx.Err() == nil {
			slog.Debug("upload: writing files over SFTP", "why", err)
			rest := fresh
			if m := len(fresh) - 1; fresh[m].f.rel == ManifestName {
				rest, plan.manifest = fresh[:m], &fresh[m]
			}
			sendGroups(groupJobs(rest))
		} else if err != nil {
			g.Wait()
			return false, err
		}
	}
	if err := g.Wait(); err != nil {
		return false, err
	}
	if plan.manifest != nil {
		if err := p.sendGroup(ctx, b, []job{*plan.manifest}, st, nil); err != nil {
			return false, err
		}
	}
	// The stream's flush covers what was written before it; anything
	// written around it (resumed files, a resent mismatch) needs another.
	return flushed && len(groups) == 0 && plan.manifest == nil && st.Resent == resent, nil
}

// addCounts adds the transfer counters of o (one group's or file's share)
// to s.
func (s *Stats) addCounts(o Stats) {
	s.Sent += o.Sent
	s.SentFiles += o.SentFiles
	s.Streamed += o.Streamed
	s.Verified += o.Verified
	s.FromManifest += o.FromManifest
	s.HashedReceiving += o.HashedReceiving
	s.Resent += o.Resent
}

func countJobs(plan *filePlan) int {
	n := 0
	for _, g := range plan.groups {
		n += len(g)
	}
	if plan.manifest != nil {
		n++
	}
	return n
}

// sendGroup writes a few files, then verifies them together (one remote
// hashing command for many small files; large files were hashed at the
// destination while they arrived). A mismatch is sent once more from
// scratch before it counts as an error.
func (p *publisher) sendGroup(ctx context.Context, b backend, grp []job, st *Stats, prog *progress) error {
	// Small files go several at a time: each costs a few round trips and
	// an fsync on the server, which would otherwise run back to back.
	res := make([]putResult, len(grp))
	each := make([]Stats, len(grp))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(smallFilesInFlight)
	for i, j := range grp {
		g.Go(func() error {
			r, err := p.put(gctx, b, j, false, &each[i], prog)
			res[i] = r
			return err
		})
	}
	err := g.Wait()
	for _, e := range each {
		st.addCounts(e) // put counts only what it sent
	}
	if err != nil {
		return err
	}
	return p.verifyGroup(ctx, b, grp, res, st, prog)
}

// verifyGroup hashes a group of written files at the destination (where
// put did not already hash them while receiving) and settles mismatches.
func (p *publisher) verifyGroup(ctx context.Context, b backend, grp []job, res []putResult, st *Stats, prog *progress) error {
	remote := make([]string, len(grp))
	var ask []string
	var askIdx []int
	var total int64
	for i, j := range grp {
		remote[i] = path.Join(p.partial, j.f.rel)
		if !res[i].hashedRemote {
			ask = append(ask, remote[i])
			askIdx = append(askIdx, i)
			total += j.f.size
		}
	}
	got := make([]sum, len(grp))
	if len(ask) > 0 {
		sums, err := b.hash(ctx, ask, total)
		if err != nil {
			return p.fail(b, "verify", ask[0], err)
		}
		for k, i := range askIdx {
			got[i] = sums[k]
		}
	}
	for i, r := range res {
		if r.hashedRemote {
			got[i] = r.remote
			st.HashedReceiving++
		}
	}
	for i, j := range grp {
		want := res[i].local
		if got[i] == want {
			st.Verified++
			continue
		}
		if err := p.mismatch(ctx, b, j, remote[i], got[i], res[i], st, prog); err != nil {
			return err
		}
		st.Verified++
	}
	return nil
}

// mismatch settles a file whose hash at the destination differs from the
// expected one: a hash taken while receiving is taken again after the
// transfer, a manifest sum is checked against the file here, and only
// then is the file sent again (hashed while sending) and checked once more.
func (p *publisher) mismatch(ctx context.Context, b backend, j job, remote string, got sum, r putResult, st *Stats, prog *progress) error {
	want := r.local
	if r.hashedRemote {
		again, err := b.hash(ctx, []string{remote}, j.f.size)
		if err != nil {
			return p.fail(b, "verify", remote, err)
		}
		if got = again[0]; got == want {
			return nil
		}
	}
	if !r.hashedLocal && j.f.listed != nil {
		s, err := p.checkListed(ctx, j.f)
		if err != nil {
			return err
		}
		if want = s; got == want {
			return nil // the manifest was stale; the destination holds the file
		}
	}
	slog.Warn("upload: hash mismatch at destination; sending again", "file", j.f.rel, "offset", j.offset)
	st.Resent++
	s, err := p.put(ctx, b, job{f: j.f}, true, st, prog)
	if err != nil {
		return err
	}
	again, err := b.hash(ctx, []string{remote}, j.f.size)
	if err != nil {
		return p.fail(b, "verify", remote, err)
	}
	if again[0] != s.local {
		return fmt.Errorf("verify %s at %s: sha256 there is %x, sent %x", remote, p.dest.String(), again[0], s.local)
	}
	return nil
}

// put sends one job. The local sha256 comes from the build's manifest when
// it is trusted for the file, else from the bytes as they are sent
// (always with force, as on a resend).
func (p *publisher) put(ctx context.Context, b backend, j job, force bool, st *Stats, prog *progress) (putResult, error) {
	remote := path.Join(p.partial, j.f.rel)
	_, useListed := p.listed(j.f)
	useListed = useListed && !force
	var sent int64
	r, err := b.put(ctx, j.f, remote, j.offset, p.fileMode, !useListed, p.counter(&sent, prog))
	st.Sent += sent
	if err != nil {
		return r, p.fail(b, "upload "+j.f.rel+" to", remote, err)
	}
	p.sent(j.f, &r, st)
	return r, nil
}

// counter returns the progress callback of one transfer: it adds to
// *sent, the upload's running total and the progress line.
func (p *publisher) counter(sent *int64, prog *progress) func(int) {
	return func(n int) {
		*sent += int64(n)
		total := p.totalSent.Add(int64(n))
		if prog != nil {
			prog.add(n)
		}
		if p.o.sendHook != nil {
			p.o.sendHook(total)
		}
	}
}

// sent records a file written to the destination: its expected sum is the
// manifest's when put did not hash it here.
func (p *publisher) sent(f fileEntry, r *putResult, st *Stats) {
	if !r.hashedLocal {
		if listed, ok := p.listed(f); ok {
			r.local = listed
			st.FromManifest++
		}
	}
	st.SentFiles++
	p.sentMu.Lock()
	p.sentEver[f.rel] = true
	p.sentMu.Unlock()
	if !p.t.IsTTY() && f.size >= 1<<20 {
		p.t.Printf("upload: sent %s (%s)", f.rel, term.Bytes(f.size))
	}
}

func (p *publisher) placeLinks(ctx context.Context, b backend, existing map[string]remoteInfo) error {
	for _, l := range p.tree.links {
		full := path.Join(p.partial, l.rel)
		if ri, ok := existing[l.rel]; ok && ri.kind == kindLink {
			if t, err := b.readlink(ctx, full); err == nil && t == l.target {
				continue
			}
			if err := b.removeAll(ctx, full); err != nil {
				return p.fail(b, "remove stale", full, err)
			}
		}
		if err := b.symlink(ctx, l.target, full); err != nil {
			return p.fail(b, "create symlink", full, err)
		}
	}
	return nil
}

// compareFinal accepts an existing final directory only when it holds
// exactly this build: same files, sizes, hashes and symlinks.
func (p *publisher) compareFinal(ctx context.Context, b backend, st *Stats) error {
	there, err := b.list(ctx, p.final)
	if err != nil {
		return p.fail(b, "list", p.final, err)
	}
	differ := func(why string) error {
		return fmt.Errorf("%w: %s/%s/%s (%s); published builds are never overwritten: choose a new NAME or remove the old build there",
			ErrDifferentBuild, p.dest.String(), p.branch, p.name, why)
	}
	n := len(p.tree.dirs) + len(p.tree.files) + len(p.tree.links)
	if len(there) != n {
		return differ(fmt.Sprintf("%d entries there, %d in the build", len(there), n))
	}
	for _, d := range p.tree.dirs {
		if there[d].kind != kindDir {
			return differ(d + " is not a directory there")
		}
	}
	for _, l := range p.tree.links {
		if t, err := b.readlink(ctx, path.Join(p.final, l.rel)); err != nil || t != l.target {
			return differ(l.rel + " is not the same symlink there")
		}
	}
	for _, f := range p.tree.files {
		if ri := there[f.rel]; ri.kind != kindFile || ri.size != f.size {
			return differ(f.rel + " differs in size")
		}
	}
	same, err := p.sameContent(ctx, b, p.final, p.tree.files)
	if err != nil {
		return err
	}
	for i, f := range p.tree.files {
		if !same[i] {
			return differ(f.rel + " differs in content")
		}
		st.Verified++
		st.Skipped += f.size
		st.SkippedFiles++
	}
	return nil
}

// updateLatest points <branch>/latest at the build: a new symlink under a
// temporary name renamed over the old one, so readers always see a
// complete pointer.
func (p *publisher) updateLatest(ctx context.Context, b backend) error {
	if p.o.NoLatest {
		return nil
	}
	latest := path.Join(p.base, LatestName)
	if ri, err := b.lstat(ctx, latest); err == nil && ri.kind != kindLink {
		return fmt.Errorf("%s at %s exists and is not a symlink; not replacing it", latest, p.dest.String())
	}
	tmp := path.Join(p.base, "."+LatestName+"."+p.name+".tmp")
	if _, err := b.lstat(ctx, tmp); err == nil {
		if err := b.removeAll(ctx, tmp); err != nil {
			return p.fail(b, "remove stale", tmp, err)
		}
	}
	if err := b.symlink(ctx, p.name, tmp); err != nil {
		return p.fail(b, "create symlink", tmp, err)
	}
	if err := b.replace(ctx, tmp, latest); err != nil {
		return p.fail(b, "replace", latest, err)
	}
	return p.fail(b, "sync", p.base, b.syncDir(ctx, p.base))
}
