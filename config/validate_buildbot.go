package config

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
)

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// validateBuildbot checks [buildbot]: the fan-out mode and the listen
// address (an IPv6 address is fine: buildbot:config escapes it for
// Twisted).
func (v *validator) validateBuildbot(b Buildbot) {
	switch b.Fanout {
	case "", "auto", "on", "off":
	default:
		v.add("buildbot.fanout", "%q: want auto, on or off", b.Fanout)
	}
	if b.Xtbuild != "" && (!filepath.IsAbs(b.Xtbuild) || strings.ContainsAny(b.Xtbuild, "\n\r")) {
		v.add("buildbot.xtbuild", "%q: want the absolute path of xtbuild on the workers", b.Xtbuild)
	}
	if b.Listen != "" && net.ParseIP(b.Listen) == nil && !hostnameRE.MatchString(b.Listen) {
		v.add("buildbot.listen", "%q is not an IP address or host name", b.Listen)
	}
}
