package recipes

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/xtbuild/xtbuild/bbsyntax"
)

// writer accumulates BitBake text, refusing values that cannot be quoted.
type writer struct {
	b   strings.Builder
	err error
}

func newWriter(what string) *writer {
	w := &writer{}
	w.line(Header)
	w.line("# " + what)
	w.blank()
	return w
}

func (w *writer) line(s string) { w.b.WriteString(s + "\n") }
func (w *writer) blank()        { w.b.WriteString("\n") }

// set writes NAME OP "value".
func (w *writer) set(name, op, value string) {
	q, err := bbsyntax.Quote(value)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("%s: %w", name, err)
	}
	w.line(name + " " + op + " " + q)
}

// list writes a multi-line value, one entry per line, the layout of
// SRC_URI and BBFILES in OE layers.
func (w *writer) list(name, op string, entries []string) {
	for _, e := range entries {
		if strings.ContainsAny(e, "\"\n\\") && w.err == nil {
			w.err = fmt.Errorf("%s: entry %q cannot be written", name, e)
		}
	}
	w.line(name + " " + op + " \" \\")
	for _, e := range entries {
		w.line("    " + e + " \\")
	}
	w.line("    \"")
}

func layerConf(o Options, r release, images []image) *writer {
	w := newWriter("Layer configuration of the xtbuild tools layer.")
	prio := o.Priority
	if prio == 0 {
		prio = 10
	}
	deps := o.LayerDepends
	if deps == nil {
		deps = []string{"core"}
	}
	w.set("BBPATH", ".=", ":${LAYERDIR}")
	w.list("BBFILES", "+=", []string{"${LAYERDIR}/recipes-*/*/*.bb", "${LAYERDIR}/recipes-*/*/*.bbappend"})
	w.blank()
	w.set("BBFILE_COLLECTIONS", "+=", Collection)
	w.set("BBFILE_PATTERN_"+Collection, "=", "^${LAYERDIR}/")
	w.set("BBFILE_PRIORITY_"+Collection, "=", strconv.Itoa(prio))
	w.set("LAYERVERSION_"+Collection, "=", "1")
	w.set("LAYERDEPENDS_"+Collection, "=", strings.Join(deps, " "))
	w.set("LAYERSERIES_COMPAT_"+Collection, "=", r.Name)
	if len(images) > 0 {
		w.blank()
		w.line("# The tools each image carries. Keyed on the image's PN, not a .bbappend:")
		w.line("# an image that no configured layer provides is left alone instead of")
		w.line("# stopping BitBake with \"No recipes available for\" a dangling append.")
		for _, img := range images {
			var pkgs []string
			if len(img.tools) == len(Tools) {
				pkgs = []string{PackageGroup}
			} else {
				for _, t := range img.tools {
					pkgs = append(pkgs, PackageName(t.Name))
				}
			}
			w.set(r.ov(r.ov("IMAGE_INSTALL", "append"), "pn-"+img.name), "=", " "+strings.Join(pkgs, " "))
		}
	}
	return w
}

// gitFetchURL turns a clone URL into BitBake's git:// form and protocol.
func gitFetchURL(raw string) (string, string, error) {
	if raw == "" {
		return "", "", fmt.Errorf("git source URL is empty")
	}
	if strings.ContainsAny(raw, "; \t\"'\\") {
		return "", "", fmt.Errorf("git source URL %q: cannot be written into SRC_URI", raw)
	}
	if m := scpRE.FindStringSubmatch(raw); m != nil && !strings.Contains(raw, "://") {
		return "git://" + m[1] + "/" + strings.TrimPrefix(m[2], "/"), "ssh", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("git source URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git", "file":
	default:
		return "", "", fmt.Errorf("git source URL %q: want https, http, ssh, git or file", raw)
	}
	if u.Path == "" || (u.Scheme != "file" && u.Host == "") {
		return "", "", fmt.Errorf("git source URL %q: missing host or path", raw)
	}
	host := u.Host
	if u.User != nil {
		host = u.User.Username() + "@" + host
	}
	return "git://" + host + u.Path, u.Scheme, nil
}

var scpRE = regexp.MustCompile(`^([A-Za-z0-9._-]+@[A-Za-z0-9.-]+):(.+)$`)

func toolsRecipe(o Options, r release, licMD5 string) *writer {
	w := newWriter("The xt multi-call binary (tools/cmd/xt) with one package per tool.")
	lf, _ := o.licensePath()
	version := o.Version
	if version == "" {
		version = "0.0"
	}
	w.set("SUMMARY", "=", "xtbuild platform tools: the xt multi-call binary")
	w.set("DESCRIPTION", "=", "One static Go binary, xt, carrying the DS1077L oscillator, TPM, TXT and serial tools. Each tool has its own package with busybox-style links to xt.")
	w.set("HOMEPAGE", "=", "https://"+RepoImport)
	w.set("SECTION", "=", "utils")
	w.line("# The project's own license, then those of the vendored Go modules.")
	w.set("LICENSE", "=", licenseExpr(o.License, o.Vendor.Licenses))
	lics := []string{"file://src/" + RepoImport + "/" + lf + ";md5=" + licMD5}
	for _, l := range o.Vendor.Licenses {
		lics = append(lics, "file://src/${GO_IMPORT}/"+l.Path+";md5="+l.MD5)
	}
	w.list("LIC_FILES_CHKSUM", "=", lics)
	w.blank()
	w.line("# The tools module (its own go.mod, with a go directive the release's Go")
	w.line("# accepts) lives in tools/ of the repository, unpacked at ${S}/src/" + RepoImport + ",")
	w.line("# so go.mod is at ${S}/src/${GO_IMPORT}.")
	w.set("GO_IMPORT", "=", GoImport)
	w.set("GO_INSTALL", "=", GoInstall)
	w.blank()

	var srcURI []string
	repoDir, repoBase := path.Dir(RepoImport), path.Base(RepoImport)
	localBase := ""
	vendorSubdir := "${BPN}/src/${GO_IMPORT}"
	switch o.Source.Kind {
	case SourceGit:
		u, proto, _ := gitFetchURL(o.Source.URL)
		branch := "nobranch=1"
		if o.Source.Branch != "" {
			branch = "branch=" + o.Source.Branch
		}
		// Explicit destsuffix: the same place on every release, whatever
		// go.bbclass's unpack does by default.
		srcURI = append(srcURI, u+";protocol="+proto+";"+branch+";destsuffix=${BPN}/src/"+RepoImport+"/")
	case SourceLocal:
		localBase = filepath.Base(o.Source.LocalPath)
		w.line("# Development build from a local checkout: the whole tree is copied, so keep")
		w.line("# build directories out of it.")
		w.set("FILESEXTRAPATHS"+sep(r)+"prepend", ":=", filepath.Dir(o.Source.LocalPath)+":")
		srcURI = append(srcURI, "file://"+localBase+";subdir=${BPN}/src/"+repoDir)
		// The copied directory keeps its own name; unpacking the vendor
		// tree into the final path first would make the rename below move
		// the checkout inside it. So the vendor tree waits beside it.
		vendorSubdir = "${BPN}/" + vendorUnpackDir
	}
	if o.Vendor.URL != "" {
		srcURI = append(srcURI, o.Vendor.URL+";name=vendor;subdir="+vendorSubdir)
	}
	w.list("SRC_URI", "=", srcURI)
	w.line("# ${BPN}, not ${BP}: BP holds PV, and PV holds SRCPV before nanbield, which the")
	w.line("# fetcher computes from SRC_URI: a ${BP} in a SRC_URI parameter recursed on")
	w.line("# dunfell's BitBake 1.46 (\"maximum recursion depth exceeded\" while parsing).")
	w.set("S", "=", "${WORKDIR}/${BPN}")
	switch o.Source.Kind {
	case SourceGit:
		w.set("SRCREV", "=", o.Source.SRCREV)
		if r.srcpvInPV {
			w.set("PV", "=", version+"+git${SRCPV}")
		} else {
			w.set("PV", "=", version+"+git")
		}
	case SourceLocal:
		w.set("PV", "=", version+"+local")
	}
	if o.Vendor.URL != "" {
		w.set("SRC_URI[vendor.sha256sum]", "=", o.Vendor.SHA256)
	}
	w.blank()
	w.line("inherit go-mod")
	w.blank()
	w.line("# One static binary: no cgo, no shared Go runtime (GO_DYNLINK is on by")
	w.line("# default on x86-64 and arm), and modules only from the vendor tarball.")
	w.set("export CGO_ENABLED", "=", "0")
	w.set("GO_LINKSHARED", "=", "")
	if o.Vendor.URL != "" {
		w.set("export GOFLAGS", "=", "-mod=vendor")
	}
	w.set("export GOPROXY", "=", "off")
	w.line("# The release's Go must build the module itself, never download a newer one.")
	w.set("export GOTOOLCHAIN", "=", "local")
	w.blank()

	pkgs := make([]string, len(Tools))
	for i, t := range Tools {
		pkgs[i] = "${PN}-" + t.Name
	}
	w.line("# Tool packages come before ${PN} so their links leave the main package.")
	w.set("PACKAGE_BEFORE_PN", "=", strings.Join(pkgs, " "))
	w.set(r.ov("SUMMARY", "${PN}"), "=", "xt multi-call binary of the xtbuild platform tools")
	for _, t := range Tools {
		pkg := "${PN}-" + t.Name
		files := make([]string, len(t.Links))
		for i, l := range t.Links {
			files[i] = "${bindir}/" + l
		}
		w.set(r.ov("SUMMARY", pkg), "=", t.Summary)
		w.set(r.ov("FILES", pkg), "=", strings.Join(files, " "))
		w.set(r.ov("RDEPENDS", pkg), "=", "${PN}")
	}
	w.blank()
	if o.Source.Kind == SourceLocal {
		w.line("# Put the copied checkout at ${S}/src/" + RepoImport + " and the vendored")
		w.line("# modules into the tools module, whatever the checkout's directory is called.")
		w.line("xtbuild_arrange_sources() {")
		if localBase != repoBase {
			w.line("	rm -rf ${S}/src/" + RepoImport)
			w.line("	mv ${S}/src/" + repoDir + "/" + localBase + " ${S}/src/" + RepoImport)
		}
		if o.Vendor.URL != "" {
			w.line("	rm -rf ${S}/src/${GO_IMPORT}/vendor")
			w.line("	mv ${S}/" + vendorUnpackDir + "/vendor ${S}/src/${GO_IMPORT}/vendor")
			w.line("	rmdir ${S}/" + vendorUnpackDir)
		}
		w.line("	test -f ${S}/src/${GO_IMPORT}/go.mod")
		w.line("}")
		w.set("do_unpack[postfuncs]", "+=", "xtbuild_arrange_sources")
		w.blank()
	}
	w.line(r.ov("do_install", "append") + "() {")
	w.line("\t# go.bbclass also installs sources and archives for Go libraries; an")
	w.line("\t# application needs neither on the target.")
	w.line("\trm -rf ${D}${libdir}/go")
	w.line("\t[ ! -d ${D}${libdir} ] || rmdir --ignore-fail-on-non-empty ${D}${libdir}")
	w.line("\t# Busybox-style names: xt dispatches on the name it is invoked as.")
	for _, t := range Tools {
		for _, l := range t.Links {
			w.line("\tln -sf " + Binary + " ${D}${bindir}/" + l)
		}
	}
	w.line("}")
	return w
}

// sep is the separator between a variable and an override operation.
func sep(r release) string {
	if r.ColonOverrides {
		return ":"
	}
	return "_"
}

func groupRecipe(r release) *writer {
	w := newWriter("All xtbuild platform tools, for images that want every tool.")
	w.set("SUMMARY", "=", "xtbuild platform tools (all tools)")
	w.blank()
	w.line("inherit packagegroup")
	w.blank()
	pkgs := make([]string, len(Tools))
	for i, t := range Tools {
		pkgs[i] = PackageName(t.Name)
	}
	w.set(r.ov("RDEPENDS", "${PN}"), "=", strings.Join(pkgs, " "))
	return w
}
