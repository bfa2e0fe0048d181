package layers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/BurntSushi/toml"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// Lock is xtbuild.lock: the exact commit of every layer, plus a checksum of
// the layer definitions it was made from so a stale lock is detected.
type Lock struct {
	LayersHash string        `toml:"layers_hash"`
	Layers     []LockedLayer `toml:"layer"`
	// Srcrevs are the recipes that follow a branch head (${AUTOREV}),
	// fixed by setupoe (see lock_srcrev.go and the srcrev package).
	Srcrevs []LockedSrcrev `toml:"srcrev,omitempty"`
}

// LockedLayer is one layer's recorded revision.
type LockedLayer struct {
	Name   string `toml:"name"`
	URL    string `toml:"url"`
	Ref    string `toml:"ref"`
	Commit string `toml:"commit"`
}

// LayersHash is the checksum of the layer definitions (name, URL, ref,
// pin, path): the inputs that decide what the lock records.
func LayersHash(ls []config.Layer) string {
	h := sha256.New()
	for _, l := range ls {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\n", l.Name, l.URL, l.Branch, l.Tag, l.Commit, l.Path)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ReadLock reads a lock file; a missing file gives (nil, nil).
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	var l Lock
	md, err := toml.Decode(string(data), &l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%s: unknown key %s", path, und[0])
	}
	return &l, nil
}

// Find returns the locked layer of that name.
func (l *Lock) Find(name string) (LockedLayer, bool) {
	if l == nil {
		return LockedLayer{}, false
	}
	for _, x := range l.Layers {
		if x.Name == name {
			return x, true
		}
	}
	return LockedLayer{}, false
}

// Commit returns the locked commit of a layer (a plan.Locked).
func (l *Lock) Commit(name string) (string, bool) {
	x, ok := l.Find(name)
	return x.Commit, ok && x.Commit != ""
}

// Encode renders the lock file.
func (l *Lock) Encode() []byte {
	var buf bytes.Buffer
	buf.WriteString("# xtbuild.lock: exact layer revisions, written by setupoe. Commit it with xtbuild.toml;\n")
	buf.WriteString("# XTBUILD_LOCKED=1 setupoe refuses to build anything else.\n")
	if err := toml.NewEncoder(&buf).Encode(l); err != nil {
		panic(fmt.Sprintf("encode lock: %v", err))
	}
	return buf.Bytes()
}

// Write stores the lock atomically, leaving an unchanged file untouched.
func (l *Lock) Write(path string) (bool, error) {
	return atomicfile.WriteIfChanged(path, l.Encode(), 0o644)
}

// Stale explains how the lock no longer matches the layer definitions, or
// returns "" when it matches.
func (l *Lock) Stale(ls []config.Layer) string {
	if l == nil {
		return "there is no lock file"
	}
	if l.LayersHash == LayersHash(ls) {
		return ""
	}
	for _, x := range ls {
		got, ok := l.Find(x.Name)
		switch {
		case !ok:
			return fmt.Sprintf("layer %q is not in the lock", x.Name)
		case got.URL != x.URL:
			return fmt.Sprintf("layer %q: url is %s, lock has %s", x.Name, x.URL, got.URL)
		case x.Commit != "" && got.Commit != x.Commit:
			return fmt.Sprintf("layer %q: pinned commit %s, lock has %s", x.Name, x.Commit, got.Commit)
		}
	}
	if len(l.Layers) != len(ls) {
		return fmt.Sprintf("lock has %d layers, config has %d", len(l.Layers), len(ls))
	}
	return "layer definitions (branch, tag, path) changed since the lock was written"
}
