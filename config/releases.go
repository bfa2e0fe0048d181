package config

import (
	"fmt"
	"strconv"
	"strings"
)

// YoctoRelease is one Yocto Project release series xtbuild can generate
// for. This table is the one place release facts live: bbconf writes the
// conf the series' oe-core accepts, the runner passes MACHINE the way its
// BitBake reads it, and doctor checks the host against Python and Hosts.
type YoctoRelease struct {
	Name    string // series name, LAYERSERIES_COMPAT value
	Version string // Yocto version
	Bitbake string // matching bitbake branch
	// ColonOverrides: the ":append" override syntax (honister and later);
	// older series use "_append".
	ColonOverrides bool
	// ConfVersion is oe-core's LOCALCONF_VERSION (meta/conf/sanity.conf):
	// local.conf must set CONF_VERSION to it or the sanity check stops.
	ConfVersion string
	// EnvPassthrough is the variable listing environment variables BitBake
	// lets into the datastore: BB_ENV_EXTRAWHITE before BitBake 2.0,
	// BB_ENV_PASSTHROUGH_ADDITIONS since.
	EnvPassthrough string
	// PythonMin is the oldest Python 3 the series' BitBake starts on
	// (lib/bb/__init__.py); PythonMax, when set, is the newest it imports
	// on (BitBake 1.44 uses collections.MutableMapping, gone in 3.10).
	PythonMin, PythonMax string
	// Hosts are the build hosts the series was validated on that xtbuild
	// names in advice (an older host or a container of that distro).
	Hosts []string
}

// Releases are the supported series, oldest first. Others are refused by name.
var Releases = []YoctoRelease{
	{Name: "zeus", Version: "3.0", Bitbake: "1.44", ConfVersion: "1", EnvPassthrough: "BB_ENV_EXTRAWHITE",
		PythonMin: "3.5", PythonMax: "3.9", Hosts: []string{"Debian 10 (buster)", "Ubuntu 18.04"}},
	{Name: "dunfell", Version: "3.1", Bitbake: "1.46", ConfVersion: "1", EnvPassthrough: "BB_ENV_EXTRAWHITE",
		PythonMin: "3.5", Hosts: []string{"Debian 10 (buster)", "Debian 11 (bullseye)", "Ubuntu 20.04"}},
	{Name: "kirkstone", Version: "4.0", Bitbake: "2.0", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS",
		PythonMin: "3.6", Hosts: []string{"Debian 11 (bullseye)", "Ubuntu 22.04"}},
	{Name: "langdale", Version: "4.1", Bitbake: "2.2", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS",
		PythonMin: "3.8", Hosts: []string{"Debian 11 (bullseye)", "Ubuntu 22.04"}},
	{Name: "mickledore", Version: "4.2", Bitbake: "2.4", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS",
		PythonMin: "3.8", Hosts: []string{"Debian 11 (bullseye)", "Ubuntu 22.04"}},
	{Name: "nanbield", Version: "4.3", Bitbake: "2.6", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS",
		PythonMin: "3.8", Hosts: []string{"Debian 12 (bookworm)", "Ubuntu 22.04"}},
	{Name: "scarthgap", Version: "5.0", Bitbake: "2.8", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS",
		PythonMin: "3.8", Hosts: []string{"Debian 12 (bookworm)", "Ubuntu 22.04", "Ubuntu 24.04"}},
	{Name: "styhead", Version: "5.1", Bitbake: "2.10", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS",
		PythonMin: "3.8", Hosts: []string{"Debian 12 (bookworm)", "Ubuntu 24.04"}},
	{Name: "walnascar", Version: "5.2", Bitbake: "2.12", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS",
		PythonMin: "3.9", Hosts: []string{"Debian 12 (bookworm)", "Ubuntu 24.04"}},
}

// LookupRelease finds a series by name.
func LookupRelease(name string) (YoctoRelease, bool) {
	for _, r := range Releases {
		if r.Name == name {
			return r, true
		}
	}
	return YoctoRelease{}, false
}

// ReleaseInfo returns the configured series (valid after Load).
func (c *Config) ReleaseInfo() YoctoRelease {
	r, _ := LookupRelease(c.Build.Release)
	return r
}

// PythonOK reports whether the series' BitBake runs on Python version v
// ("3.11" or "3.11.7"); when it does not, the error says why and what to
// use instead.
func (r YoctoRelease) PythonOK(v string) error {
	got, ok := minorVersion(v)
	if !ok {
		return fmt.Errorf("cannot read Python version %q", v)
	}
	if lo, ok := minorVersion(r.PythonMin); ok && got < lo {
		return fmt.Errorf("%s (BitBake %s) needs Python %s or newer, found %s", r.Name, r.Bitbake, r.PythonMin, v)
	}
	if hi, ok := minorVersion(r.PythonMax); ok && got > hi {
		return fmt.Errorf("%s (BitBake %s) runs on Python up to %s, found %s: build on %s (a container of that distro works)",
			r.Name, r.Bitbake, r.PythonMax, v, strings.Join(r.Hosts, " or "))
	}
	return nil
}

// minorVersion turns "3.11.7" into 3*1000+11.
func minorVersion(v string) (int, bool) {
	parts := strings.SplitN(strings.TrimSpace(v), ".", 3)
	if len(parts) < 2 {
		return 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return major*1000 + minor, true
}
