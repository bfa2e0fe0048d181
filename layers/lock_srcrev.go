package layers

// LockedSrcrev is one recipe source that follows a branch head
// (SRCREV = "${AUTOREV}"), fixed to a commit. setupoe writes these with
// the layers; XTBUILD_LOCKED=1 builds exactly them (package srcrev).
type LockedSrcrev struct {
	Recipe string `toml:"recipe"`
	// Name is the SRC_URI entry's name= for a recipe with several sources;
	// empty for the unnamed one.
	Name   string `toml:"name,omitempty"`
	URL    string `toml:"url,omitempty"`
	Branch string `toml:"branch,omitempty"`
	Commit string `toml:"commit"`
	// From says where the commit came from: mirror, network or config.
	From string `toml:"from,omitempty"`
}
