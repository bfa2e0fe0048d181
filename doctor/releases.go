package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// PyVersion is a Python major.minor version.
type PyVersion struct{ Major, Minor int }

func (v PyVersion) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than w.
func (v PyVersion) Less(w PyVersion) bool {
	return v.Major < w.Major || (v.Major == w.Major && v.Minor < w.Minor)
}

// HostSupport is what one Yocto release series needs from the build host.
type HostSupport struct {
	Release string    // series name (config's build.release)
	Bitbake string    // its BitBake branch
	MinPy   PyVersion // oldest Python its BitBake starts on
	// BreaksOn is the first Python the series is known not to run on (zero:
	// none known), and Why the reason, naming the code that breaks.
	BreaksOn PyVersion
	Why      string
	// Validated is the release's SANITY_TESTED_DISTROS (NATIVELSBSTRING
	// values: id-version) from poky's meta-poky/conf/distro/poky.conf.
	Validated []string
	// Host is a validated host on which the series runs, given as the fix
	// when this host cannot run it: the distro, its Python, a container
	// image of it.
	Host HostAdvice
}

// HostAdvice names a build host for a series.
type HostAdvice struct {
	Distro string // e.g. "Debian 10 (buster)"
	Python string // its python3
	Image  string // a container image of it
	Note   string // where the choice comes from
}

// Series is the one table of per-release host facts. Sources, read per
// branch in the upstream repositories:
//   - MinPy: bitbake lib/bb/__init__.py (`if sys.version_info < (3, N, 0):
//     raise RuntimeError`), which matches oe-core's sanity.bbclass
//     ("The system requires at least Python 3.N").
//   - BreaksOn: imports of modules or names that a later Python removed, in
//     code every parse runs (bitbake lib/, oe-core meta/lib/oe modules in
//     BBIMPORTS): collections ABC aliases (gone in 3.10), asyncore (3.12),
//     pipes (3.13).
//   - Validated: poky meta-poky/conf/distro/poky.conf SANITY_TESTED_DISTROS
//     on the release branch.
//   - Host: a validated distro whose Python is in range; for zeus and
//     dunfell, also what bordel's containers use (Dockerfiles/openxt-zeus and
//     openxt-dunfell build on openxt-buster-oe64, openxt-master on
//     openxt-bullseye-oe64).
var Series = []HostSupport{
	{
		Release: "zeus", Bitbake: "1.44", MinPy: PyVersion{3, 4},
		// bitbake 1.44 lib/bb/compat.py and lib/bb/data_smart.py:
		// `from collections import MutableMapping`.
		BreaksOn: PyVersion{3, 10},
		Why:      "BitBake 1.44 imports MutableMapping from collections (lib/bb/data_smart.py), an alias Python 3.10 removed",
		Validated: []string{"poky-2.7", "poky-3.0", "ubuntu-16.04", "ubuntu-18.04", "ubuntu-19.04", "fedora-28", "fedora-29",
			"fedora-30", "centos-7", "debian-8", "debian-9", "debian-10", "opensuseleap-15.1"},
		Host: HostAdvice{Distro: "Debian 10 (buster)", Python: "3.7", Image: "debian:buster",
			Note: "validated for zeus; bordel's openxt-zeus container is built on it"},
	},
	{
		Release: "dunfell", Bitbake: "1.46", MinPy: PyVersion{3, 5},
		// bitbake 1.46 lib/pyinotify.py `import asyncore`, imported by
		// lib/bb/cooker.py; oe-core dunfell sanity.bbclass also imports
		// distutils.version (removed in 3.12).
		BreaksOn: PyVersion{3, 12},
		Why:      "BitBake 1.46's cooker imports pyinotify, which imports asyncore, a module Python 3.12 removed (and dunfell's sanity checks import distutils, also removed in 3.12)",
		Validated: []string{"poky-2.7", "poky-3.0", "poky-3.1", "ubuntu-18.04", "ubuntu-20.04", "ubuntu-22.04", "fedora-37",
			"debian-11", "opensuseleap-15.3", "almalinux-8.8"},
		Host: HostAdvice{Distro: "Debian 11 (bullseye)", Python: "3.9", Image: "debian:bullseye",
			Note: "validated for dunfell; bordel's openxt-master container (OpenXT master is on dunfell) is built on it"},
	},
	{
		Release: "kirkstone", Bitbake: "2.0", MinPy: PyVersion{3, 6},
		Validated: []string{"poky-3.3", "poky-3.4", "ubuntu-18.04", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-24.04", "fedora-37",
			"fedora-39", "fedora-40", "debian-11", "opensuseleap-15.3", "almalinux-8.8", "almalinux-8.9", "almalinux-8.10", "almalinux-9.4"},
		Host: HostAdvice{Distro: "Ubuntu 22.04", Python: "3.10", Image: "ubuntu:22.04", Note: "validated for kirkstone"},
	},
	{
		Release: "langdale", Bitbake: "2.2", MinPy: PyVersion{3, 6},
		Validated: []string{"poky-4.0", "poky-4.1", "ubuntu-18.04", "ubuntu-20.04", "ubuntu-22.04", "fedora-34", "fedora-35",
			"fedora-36", "debian-10", "debian-11", "opensuseleap-15.3", "opensuseleap-15.4", "almalinux-8.5", "almalinux-8.7"},
		Host: HostAdvice{Distro: "Ubuntu 22.04", Python: "3.10", Image: "ubuntu:22.04", Note: "validated for langdale"},
	},
	{
		Release: "mickledore", Bitbake: "2.4", MinPy: PyVersion{3, 8},
		// oe-core mickledore meta/lib/oe/package.py `import pipes`; oe.package
		// is in BBIMPORTS (meta/lib/oe/__init__.py), so every parse loads it.
		BreaksOn: PyVersion{3, 13},
		Why:      "oe-core mickledore's oe.package, loaded by every parse, imports pipes, a module Python 3.13 removed",
		Validated: []string{"poky-4.1", "poky-4.2", "ubuntu-18.04", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-22.10", "fedora-37",
			"fedora-38", "centosstream-8", "debian-11", "debian-12", "opensuseleap-15.3", "opensuseleap-15.4", "almalinux-8.8", "almalinux-9.2"},
		Host: HostAdvice{Distro: "Debian 12 (bookworm)", Python: "3.11", Image: "debian:bookworm", Note: "validated for mickledore"},
	},
	{
		Release: "nanbield", Bitbake: "2.6", MinPy: PyVersion{3, 8},
		Validated: []string{"poky-4.2", "poky-4.3", "ubuntu-18.04", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-22.10", "fedora-37",
			"fedora-38", "centosstream-8", "debian-11", "debian-12", "opensuseleap-15.3", "opensuseleap-15.4", "almalinux-8.8", "almalinux-9.2"},
		Host: HostAdvice{Distro: "Debian 12 (bookworm)", Python: "3.11", Image: "debian:bookworm", Note: "validated for nanbield"},
	},
	{
		Release: "scarthgap", Bitbake: "2.8", MinPy: PyVersion{3, 8},
		Validated: []string{"poky-4.3", "poky-5.0", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-23.04", "ubuntu-24.04", "fedora-38",
			"fedora-39", "fedora-40", "centosstream-8", "debian-11", "debian-12", "opensuseleap-15.4", "almalinux-8.8", "almalinux-8.9",
			"almalinux-8.10", "almalinux-9.2", "almalinux-9.4", "rocky-9"},
		Host: HostAdvice{Distro: "Debian 12 (bookworm)", Python: "3.11", Image: "debian:bookworm", Note: "validated for scarthgap"},
	},
	{
		Release: "styhead", Bitbake: "2.10", MinPy: PyVersion{3, 8},
		Validated: []string{"poky-5.0", "poky-5.1", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-24.04", "ubuntu-24.10", "fedora-38",
			"fedora-39", "fedora-40", "centosstream-8", "debian-11", "debian-12", "opensuseleap-15.4", "opensuseleap-15.5",
			"opensuseleap-15.6", "almalinux-8.8", "almalinux-8.10", "almalinux-9.2", "almalinux-9.4", "rocky-9"},
		Host: HostAdvice{Distro: "Debian 12 (bookworm)", Python: "3.11", Image: "debian:bookworm", Note: "validated for styhead"},
	},
	{
		Release: "walnascar", Bitbake: "2.12", MinPy: PyVersion{3, 9},
		Validated: []string{"poky-5.1", "poky-5.2", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-24.04", "ubuntu-24.10", "fedora-39",
			"fedora-40", "fedora-41", "centosstream-9", "debian-11", "debian-12", "opensuseleap-15.5", "opensuseleap-15.6",
			"almalinux-8.8", "almalinux-9.2", "rocky-8", "rocky-9"},
		Host: HostAdvice{Distro: "Debian 12 (bookworm)", Python: "3.11", Image: "debian:bookworm", Note: "validated for walnascar"},
	},
}

// LookupSeries finds a release's host facts.
func LookupSeries(release string) (HostSupport, bool) {
	for _, s := range Series {
		if s.Release == release {
			return s, true
		}
	}
	return HostSupport{}, false
}

// RunsOn reports whether the series' BitBake runs on Python v.
func (s HostSupport) RunsOn(v PyVersion) bool {
	if v.Less(s.MinPy) {
		return false
	}
	return s.BreaksOn == (PyVersion{}) || v.Less(s.BreaksOn)
}

// pyRange is "3.4 to 3.9" or "3.8 or newer".
func (s HostSupport) pyRange() string {
	if s.BreaksOn == (PyVersion{}) {
		return fmt.Sprintf("Python %s or newer", s.MinPy)
	}
	last := PyVersion{s.BreaksOn.Major, s.BreaksOn.Minor - 1}
	return fmt.Sprintf("Python %s to %s", s.MinPy, last)
}

// ReleaseError is an impossible release/host pair.
type ReleaseError struct {
	Release string
	Python  string // the python3 found, as it reports itself
	Support HostSupport
}

func (e *ReleaseError) Error() string {
	s := e.Support
	msg := fmt.Sprintf("%s (BitBake %s) cannot run on this host's %s: it runs on %s", s.Release, s.Bitbake, e.Python, s.pyRange())
	if s.Why != "" && !pyOf(e.Python).Less(s.BreaksOn) {
		msg += "; " + s.Why
	}
	return msg
}

// Fix says what to do, naming the exact distro.
func (e *ReleaseError) Fix() string {
	h := e.Support.Host
	return fmt.Sprintf("build %s on an older build host or in a container with %s (Python %s; %s), e.g. `podman run --rm -it -v \"$PWD:$PWD\" -w \"$PWD\" %s` (or docker), then run xtbuild there",
		e.Support.Release, h.Distro, h.Python, h.Note, h.Image)
}

var pyVersionRE = regexp.MustCompile(`Python (\d+)\.(\d+)`)

func pyOf(s string) PyVersion {
	m := pyVersionRE.FindStringSubmatch(s)
	if m == nil {
		return PyVersion{}
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return PyVersion{major, minor}
}

// hostPython is the python3 BitBake would run on (its scripts start with
// `#!/usr/bin/env python3`), as "Python 3.11.2".
func hostPython(ctx context.Context, h Host) (string, PyVersion, error) {
	out, err := h.Output(ctx, "python3", "--version")
	if err != nil {
		return "", PyVersion{}, fmt.Errorf("python3 --version: %w", err)
	}
	v := pyOf(out)
	if v == (PyVersion{}) {
		return "", PyVersion{}, fmt.Errorf("python3 --version said %q", strings.TrimSpace(out))
	}
	return strings.TrimSpace(out), v, nil
}

// CheckRelease refuses a release series this host's Python cannot run,
// with a *ReleaseError naming the release, the Python found and the host to
// use instead. setupoe (and a board build on its own release) call it
// before cloning anything. An unknown series or a missing python3 is an
// error too.
func CheckRelease(ctx context.Context, h Host, release string) error {
	s, ok := LookupSeries(release)
	if !ok {
		return fmt.Errorf("doctor: no host facts for release %q", release)
	}
	found, v, err := hostPython(ctx, h)
	if err != nil {
		return fmt.Errorf("doctor: %s needs python3: %w", release, err)
	}
	if !s.RunsOn(v) {
		return &ReleaseError{Release: release, Python: found, Support: s}
	}
	return nil
}

// checkRelease is doctor's line for the configured release: the Python
// range (a failure with the fix) and whether this distro is one the release
// was validated on (information: BitBake itself only warns).
func checkRelease(ctx context.Context, h Host, release string) Check {
	ch := Check{Name: "release " + release}
	err := CheckRelease(ctx, h, release)
	if re, ok := err.(*ReleaseError); ok {
		ch.Info = re.Error()
		ch.Fix = re.Fix()
		return ch
	}
	if err != nil {
		ch.Info = err.Error()
		ch.Fix = "apt-get install python3"
		return ch
	}
	s, _ := LookupSeries(release)
	found, _, _ := hostPython(ctx, h)
	ch.OK = true
	ch.Info = fmt.Sprintf("BitBake %s runs on %s", s.Bitbake, found)
	if id := hostDistro(h); id != "" {
		if contains(s.Validated, id) {
			ch.Info += "; " + id + " is validated for " + release
		} else {
			ch.Info += fmt.Sprintf("; %s is not among the hosts %s was validated on (BitBake will warn; %s is)", id, release, s.Host.Distro)
		}
	}
	return ch
}

// hostDistro is the host's id-version as oe-core's NATIVELSBSTRING spells
// it (debian-12, ubuntu-22.04), from /etc/os-release; "" when unknown.
func hostDistro(h Host) string {
	data, err := os.ReadFile(filepath.Join(h.Root, "etc", "os-release"))
	if err != nil {
		return ""
	}
	vals := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			vals[k] = strings.Trim(v, `"'`)
		}
	}
	id, ver := strings.ToLower(vals["ID"]), vals["VERSION_ID"]
	if id == "" || ver == "" {
		return ""
	}
	return id + "-" + ver
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
