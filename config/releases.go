package config

// YoctoRelease is one Yocto Project release series xtbuild can generate
// for: what the generated conf and the runner need (bbconf writes the conf
// the series' oe-core accepts, the runner passes MACHINE the way its BitBake
// reads it). What a series needs from the build host (Python range,
// validated distros) is doctor's table, doctor.Series.
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
}

// Releases are the supported series, oldest first. Others are refused by name.
var Releases = []YoctoRelease{
	{Name: "zeus", Version: "3.0", Bitbake: "1.44", ConfVersion: "1", EnvPassthrough: "BB_ENV_EXTRAWHITE"},
	{Name: "dunfell", Version: "3.1", Bitbake: "1.46", ConfVersion: "1", EnvPassthrough: "BB_ENV_EXTRAWHITE"},
	{Name: "kirkstone", Version: "4.0", Bitbake: "2.0", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS"},
	{Name: "langdale", Version: "4.1", Bitbake: "2.2", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS"},
	{Name: "mickledore", Version: "4.2", Bitbake: "2.4", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS"},
	{Name: "nanbield", Version: "4.3", Bitbake: "2.6", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS"},
	{Name: "scarthgap", Version: "5.0", Bitbake: "2.8", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS"},
	{Name: "styhead", Version: "5.1", Bitbake: "2.10", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS"},
	{Name: "walnascar", Version: "5.2", Bitbake: "2.12", ColonOverrides: true, ConfVersion: "2", EnvPassthrough: "BB_ENV_PASSTHROUGH_ADDITIONS"},
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
