// Package doctor checks a build host before hours of building find out the
// hard way: the shell (OpenXT's metadata broke under dash), host tools, free
// disk, git identity, a UTF-8 locale, Python, not running as root, and
// whether the configured Yocto release's BitBake runs on this host's Python
// (releases.go holds the per-release facts). Every failing check says how to
// fix it.
package doctor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/xtbuild/xtbuild/config"
)

// Check is one finding.
type Check struct {
	Name string
	OK   bool
	Info string // what was found
	Fix  string // how to fix it, when not OK
}

// Host is what the checks read; tests substitute parts of it.
type Host struct {
	Root     string // filesystem root for /bin/sh (default "/")
	LookPath func(string) (string, error)
	Getuid   func() int
	// Output runs a command and returns its stdout.
	Output func(ctx context.Context, name string, args ...string) (string, error)
	// FreeBytes reports free space of the filesystem holding path.
	FreeBytes func(path string) (uint64, error)
}

// System is the real host.
func System() Host {
	return Host{
		Root:     "/",
		LookPath: exec.LookPath,
		Getuid:   os.Getuid,
		Output: func(ctx context.Context, name string, args ...string) (string, error) {
			out, err := exec.CommandContext(ctx, name, args...).Output()
			return string(out), err
		},
		FreeBytes: freeBytes,
	}
}

// toolPackages maps commands to the Debian package that provides them.
var toolPackages = map[string]string{
	"makeinfo": "texinfo", "xz": "xz-utils", "lz4": "lz4", "g++": "g++", "gcc": "gcc",
	"python3": "python3", "zstd": "zstd", "xorriso": "xorriso", "openssl": "openssl",
	"diffstat": "diffstat", "chrpath": "chrpath", "socat": "socat", "cpio": "cpio",
	"file": "file", "patch": "patch", "bzip2": "bzip2", "gawk": "gawk", "wget": "wget",
	"git": "git", "unzip": "unzip", "make": "make", "perl": "perl", "tar": "tar",
}

// Run performs every check.
func Run(ctx context.Context, c *config.Config, h Host) []Check {
	var out []Check
	out = append(out, checkShell(h))
	out = append(out, checkRoot(h))
	out = append(out, checkTools(c, h)...)
	out = append(out, checkDisk(c, h))
	out = append(out, checkGitIdentity(ctx, h)...)
	out = append(out, checkLocale(ctx, h))
	out = append(out, checkPython(ctx, h))
	out = append(out, checkRelease(ctx, h, c.Build.Release))
	return out
}

func checkShell(h Host) Check {
	c := Check{Name: "/bin/sh"}
	target, err := filepath.EvalSymlinks(filepath.Join(h.Root, "bin/sh"))
	if err != nil {
		c.Info = err.Error()
		c.Fix = "make /bin/sh a link to bash: ln -sf bash /bin/sh"
		return c
	}
	name := filepath.Base(target)
	c.Info = "/bin/sh is " + name
	if name == "dash" {
		c.Fix = "OpenXT metadata has bashisms that fail under dash: run `dpkg-reconfigure dash` and answer No (or ln -sf bash /bin/sh)"
		return c
	}
	c.OK = true
	return c
}

func checkRoot(h Host) Check {
	c := Check{Name: "user", OK: h.Getuid() != 0}
	if c.OK {
		c.Info = "not root"
	} else {
		c.Info = "running as root"
		c.Fix = "OE's sanity checks refuse to build as root: build as an ordinary user"
	}
	return c
}

func checkTools(c *config.Config, h Host) []Check {
	var missing, pkgs []string
	for _, t := range c.Host.Tools {
		if _, err := h.LookPath(t); err != nil {
			missing = append(missing, t)
			if p, ok := toolPackages[t]; ok {
				pkgs = append(pkgs, p)
			} else {
				pkgs = append(pkgs, t)
			}
		}
	}
	ch := Check{Name: "host tools"}
	if len(missing) == 0 {
		ch.OK = true
		ch.Info = fmt.Sprintf("all %d present", len(c.Host.Tools))
		return []Check{ch}
	}
	ch.Info = "missing: " + strings.Join(missing, ", ")
	ch.Fix = "apt-get install " + strings.Join(dedup(pkgs), " ")
	return []Check{ch}
}

func checkDisk(c *config.Config, h Host) Check {
	ch := Check{Name: "free disk"}
	dir := existingParent(c.BuildDir())
	free, err := h.FreeBytes(dir)
	if err != nil {
		ch.Info = err.Error()
		ch.Fix = "make sure the build directory's filesystem is mounted and readable"
		return ch
	}
	need := uint64(c.Host.MinFreeGiB) << 30
	ch.Info = fmt.Sprintf("%.1f GiB free in %s, %d GiB required", float64(free)/(1<<30), dir, c.Host.MinFreeGiB)
	if free < need {
		ch.Fix = fmt.Sprintf("free %.1f GiB more, or set paths.build_dir to a larger disk (or lower host.min_free_gib)", float64(need-free)/(1<<30))
		return ch
	}
	ch.OK = true
	return ch
}

func checkGitIdentity(ctx context.Context, h Host) []Check {
	var out []Check
	for _, key := range []string{"user.name", "user.email"} {
		ch := Check{Name: "git " + key}
		v, err := h.Output(ctx, "git", "config", "--get", key)
		v = strings.TrimSpace(v)
		if err != nil || v == "" {
			ch.Info = "not set"
			ch.Fix = fmt.Sprintf("git config --global %s %q (patch tasks commit with it)", key, map[string]string{"user.name": "Build User", "user.email": "builds@example.org"}[key])
		} else {
			ch.OK, ch.Info = true, v
		}
		out = append(out, ch)
	}
	return out
}

// oe-core's sanity check wants en_US.UTF-8 itself; C.UTF-8 does not do.
var utf8LocaleRE = regexp.MustCompile(`(?i)^en_US\.utf-?8$`)

func checkLocale(ctx context.Context, h Host) Check {
	ch := Check{Name: "UTF-8 locale"}
	out, err := h.Output(ctx, "locale", "-a")
	if err == nil {
		for _, l := range strings.Fields(out) {
			if utf8LocaleRE.MatchString(l) {
				ch.OK, ch.Info = true, l
				return ch
			}
		}
	}
	ch.Info = "no en_US.UTF-8"
	if strings.Contains(strings.ToLower(out), "c.utf8") {
		ch.Info = "only C.UTF-8"
	}
	ch.Fix = "BitBake needs a UTF-8 locale: sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/' /etc/locale.gen && locale-gen"
	return ch
}

// checkPython finds the python3 BitBake runs on; whether the configured
// release's BitBake runs on that version is checkRelease's question.
func checkPython(ctx context.Context, h Host) Check {
	ch := Check{Name: "python3"}
	found, _, err := hostPython(ctx, h)
	if err != nil {
		ch.Info = "not found"
		ch.Fix = "apt-get install python3"
		return ch
	}
	ch.OK, ch.Info = true, found
	return ch
}

// Print writes one line per check and returns an error when any failed.
func Print(w io.Writer, checks []Check) error {
	failed := 0
	for _, c := range checks {
		if c.OK {
			fmt.Fprintf(w, "ok    %-14s %s\n", c.Name, c.Info)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %-14s %s\n      fix: %s\n", c.Name, c.Info, c.Fix)
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", failed, len(checks))
	}
	return nil
}

func existingParent(p string) string {
	for {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func freeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
