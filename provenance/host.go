package provenance

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/xtbuild/xtbuild/config"
)

// HostFacts describes the build host: the inputs a rebuild elsewhere may
// not share (distro, kernel, architecture) and the BitBake version found in
// the bitbake layer's checkout. Unknown facts are left out.
func HostFacts(c *config.Config) map[string]string {
	facts := map[string]string{
		"arch": runtime.GOARCH,
		"go":   runtime.Version(),
	}
	if d := osRelease("/etc/os-release"); d != "" {
		facts["distro"] = d
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		facts["kernel"] = strings.TrimSpace(string(k))
	}
	for _, l := range c.Layers {
		if l.Kind != "bitbake" {
			continue
		}
		if v := bitbakeVersion(c.LayerDir(l)); v != "" {
			facts["bitbake"] = v
		}
	}
	return facts
}

// osRelease returns PRETTY_NAME (or NAME VERSION_ID) of os-release.
func osRelease(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			vals[k] = strings.Trim(v, `"'`)
		}
	}
	if p := vals["PRETTY_NAME"]; p != "" {
		return p
	}
	return strings.TrimSpace(vals["NAME"] + " " + vals["VERSION_ID"])
}

var bbVersionRE = regexp.MustCompile(`(?m)^__version__\s*=\s*["']([^"']+)["']`)

// bitbakeVersion reads __version__ from lib/bb/__init__.py of a bitbake
// checkout.
func bitbakeVersion(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "lib", "bb", "__init__.py"))
	if err != nil {
		return ""
	}
	if m := bbVersionRE.FindSubmatch(data); m != nil {
		return string(m[1])
	}
	return ""
}
