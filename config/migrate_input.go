package config

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// InputKind is what migrate was given.
type InputKind int

const (
	InputShellConfig InputKind = iota // OpenXT's build-scripts .config
	InputManifest                     // an openxt-manifest repo manifest (XML root <manifest>)
	InputBordel                       // a bordel template dir or configured build dir
)

func (k InputKind) String() string {
	switch k {
	case InputManifest:
		return "openxt-manifest repo manifest"
	case InputBordel:
		return "bordel configuration"
	}
	return "OpenXT .config"
}

// MigratePath converts what path holds into an xtbuild.toml for outDir. The
// kind is told from the content, never from the name: a file whose first
// element is <manifest> is a repo manifest; a directory holding
// bblayers.conf (a bordel template, templates/<name>/) or conf/bblayers.conf
// (a build dir bordel configured) is a bordel configuration; any other file
// is read as an OpenXT .config.
func MigratePath(path, outDir string) (*Migration, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if st.IsDir() {
		for _, confDir := range []string{path, filepath.Join(path, "conf")} {
			if _, err := os.Stat(filepath.Join(confDir, "bblayers.conf")); err == nil {
				m, err := MigrateBordel(confDir, outDir)
				if err == nil && confDir != path {
					// Notes name files relative to what was given.
					for i := range m.Notes {
						if m.Notes[i].File != "" {
							m.Notes[i].File = filepath.Join("conf", m.Notes[i].File)
						}
					}
				}
				return m, err
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("migrate: %w", err)
			}
		}
		return nil, fmt.Errorf("migrate: %s holds neither bblayers.conf (a bordel template) nor conf/bblayers.conf (a bordel build dir)", path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if root, isXML := xmlRoot(src); isXML {
		if root != "manifest" {
			return nil, fmt.Errorf("migrate: %s is XML with root <%s>, not a repo manifest (<manifest>)", path, root)
		}
		return MigrateManifest(src, filepath.Base(path), outDir)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return Migrate(src, dir, outDir)
}

// xmlRoot returns the name of the first element when src is XML (it starts,
// after white space, with '<').
func xmlRoot(src []byte) (string, bool) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(src, []byte("\xef\xbb\xbf")), " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("<")) {
		return "", false
	}
	d := xml.NewDecoder(bytes.NewReader(trimmed))
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return "", true
			}
			return "(unparsable: " + err.Error() + ")", true
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local, true
		}
	}
}

// newMigrator starts a migration onto the built-in profile.
func newMigrator(outDir, from string) *migrator {
	prof, _ := profile()
	return &migrator{
		sections: map[string][]tomlEntry{},
		vars:     map[string]ShellAssignment{},
		layers:   prof.Layers,
		used:     map[string]bool{},
		relBase:  outDir,
		outDir:   outDir,
		from:     from,
		steps:    map[string]Step{},
	}
}

// finish renders the TOML and checks that it loads.
func (m *migrator) finish(kind InputKind) (*Migration, error) {
	out := m.render()
	// The result must load; a mistake here would hand the user a broken file.
	if _, err := Parse("xtbuild.toml", out, m.outDir, nil); err != nil {
		return nil, fmt.Errorf("migrated config does not validate: %w\n%s", err, out)
	}
	sortNotes(m.notes)
	return &Migration{Kind: kind, TOML: out, Notes: m.notes}, nil
}

func (m *migrator) noteAt(file string, line int, format string, args ...any) {
	m.notes = append(m.notes, Note{File: file, Line: line, Text: fmt.Sprintf(format, args...)})
}

// profileLayer is the built-in profile's layer of that name.
func profileLayer(name string) (Layer, bool) {
	prof, _ := profile()
	for _, l := range prof.Layers {
		if l.Name == name {
			return l, true
		}
	}
	return Layer{}, false
}

// boardOnlyLayers are the profile's layers only board builds use; a
// migrated layer list keeps them so the board profiles stay valid.
func boardOnlyLayers(have map[string]bool) []Layer {
	prof, _ := profile()
	var out []Layer
	for _, l := range prof.Layers {
		if l.BoardOnly && !have[l.Name] {
			out = append(out, l)
		}
	}
	return out
}

// layerKindFor guesses the kind of a layer repository from its name.
func layerKindFor(repoName string) string {
	base := strings.ToLower(filepath.Base(repoName))
	switch {
	case base == "bitbake":
		return "bitbake"
	case strings.HasPrefix(strings.ToLower(repoName), "openxt/") || base == "xenclient-oe" || strings.HasPrefix(base, "meta-openxt"):
		return "openxt"
	}
	return "oe"
}
