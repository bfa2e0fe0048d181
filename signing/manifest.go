package signing

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Component is one manifest entry: a build artifact the installer puts on
// the device.
type Component struct {
	Name        string // component name in XC-PACKAGES (control, dom0, uivm, ...)
	Format      string // tarbz2, ext3gz, vhdgz, iso, ...
	Required    bool   // a missing required file fails the repository
	File        string // file name in raw/ and in packages.main/
	Destination string // where the installer puts it on the device
}

// Manifest is the ordered list of repository components (openxt.git's
// `manifest` file).
type Manifest []Component

// DefaultManifest is OpenXT's final manifest (stable-9 era, §5.1 of the
// build facts): syncvm optional since 2015-08, the tools ISO optional.
func DefaultManifest() Manifest {
	return Manifest{
		{Name: "control", Format: "tarbz2", Required: true, File: "control.tar.bz2", Destination: "/"},
		{Name: "dom0", Format: "ext3gz", Required: true, File: "dom0-rootfs.ext3.gz", Destination: "/"},
		{Name: "uivm", Format: "vhdgz", Required: true, File: "uivm-rootfs.ext3.vhd.gz", Destination: "/storage/uivm"},
		{Name: "ndvm", Format: "vhdgz", Required: true, File: "ndvm-rootfs.ext3.disk.vhd.gz", Destination: "/storage/ndvm"},
		{Name: "syncvm", Format: "vhdgz", Required: false, File: "syncvm-rootfs.ext3.vhd.gz", Destination: "/storage/syncvm"},
		{Name: "file", Format: "iso", Required: false, File: "xc-tools.iso", Destination: "/storage/isos/xc-tools.iso"},
	}
}

// ParseManifest reads openxt.git's manifest format: one component per line,
// `name format required|optional file destination`, blank lines and
// #-comments ignored.
func ParseManifest(r io.Reader) (Manifest, error) {
	var m Manifest
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, fmt.Errorf("manifest line %d: want 5 fields (name format required|optional file destination), got %d", n, len(f))
		}
		var req bool
		switch f[2] {
		case "required":
			req = true
		case "optional":
		default:
			return nil, fmt.Errorf("manifest line %d: %q is neither required nor optional", n, f[2])
		}
		m = append(m, Component{Name: f[0], Format: f[1], Required: req, File: f[3], Destination: f[4]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return m, m.Validate()
}

// Validate checks that every field fits in one XC-PACKAGES column, that
// files are plain names (no path traversal out of the repository) and that
// names and files are unique.
func (m Manifest) Validate() error {
	if len(m) == 0 {
		return fmt.Errorf("manifest is empty")
	}
	names, files := map[string]bool{}, map[string]bool{}
	for i, c := range m {
		for what, v := range map[string]string{"name": c.Name, "format": c.Format, "file": c.File, "destination": c.Destination} {
			if v == "" || strings.ContainsAny(v, " \t\r\n") {
				return fmt.Errorf("manifest entry %d (%s): %s %q must be one non-empty word", i+1, c.Name, what, v)
			}
		}
		if !safeFileName(c.File) {
			return fmt.Errorf("manifest entry %d (%s): file %q must be a plain file name", i+1, c.Name, c.File)
		}
		if isMetadataFile(c.File) {
			return fmt.Errorf("manifest entry %d (%s): file %q clashes with repository metadata", i+1, c.Name, c.File)
		}
		if !strings.HasPrefix(c.Destination, "/") {
			return fmt.Errorf("manifest entry %d (%s): destination %q must be absolute", i+1, c.Name, c.Destination)
		}
		if names[c.Name] {
			return fmt.Errorf("manifest entry %d: component %q listed twice", i+1, c.Name)
		}
		if files[c.File] {
			return fmt.Errorf("manifest entry %d (%s): file %q listed twice", i+1, c.Name, c.File)
		}
		names[c.Name], files[c.File] = true, true
	}
	return nil
}

func safeFileName(f string) bool {
	return f != "" && f != "." && f != ".." && !strings.ContainsAny(f, "/\\\x00") && !strings.HasPrefix(f, ".")
}

func isMetadataFile(f string) bool {
	return f == PackagesFile || f == RepositoryFile || f == SignatureFile
}
