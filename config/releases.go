package config

// YoctoRelease is one Yocto Project release series xtbuild can generate for.
type YoctoRelease struct {
	Name    string // series name, LAYERSERIES_COMPAT value
	Version string // Yocto version
	Bitbake string // matching bitbake branch
	// ColonOverrides: the ":append" override syntax (honister and later);
	// older series use "_append".
	ColonOverrides bool
}

// Releases are the supported series, oldest first. Others are refused by name.
var Releases = []YoctoRelease{
	{"zeus", "3.0", "1.44", false},
	{"dunfell", "3.1", "1.46", false},
	{"kirkstone", "4.0", "2.0", true},
	{"langdale", "4.1", "2.2", true},
	{"mickledore", "4.2", "2.4", true},
	{"nanbield", "4.3", "2.6", true},
	{"scarthgap", "5.0", "2.8", true},
	{"styhead", "5.1", "2.10", true},
	{"walnascar", "5.2", "2.12", true},
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
