package tpm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/xtbuild/xtbuild/tools/tpm/device"
)

// Drop-ins for tpm-tools 1.3.9's tpm_version and tpm_nvinfo (TPM 1.2):
// the same options and byte-for-byte the same output for the same TPM
// state, reached through busybox-style links. They also take xt's
// --device (default /dev/tpm0; unix:/path or tcp:host:port for swtpm),
// since there is no tcsd in between. The richer `xt tpm` output is
// separate (WriteVersion12, WriteNVInfo12).

// compatExitFailure is what tpm-tools returns on any failure (main's -1).
const compatExitFailure = 255

// CompatPrograms are the tpm-tools names the drop-ins answer to.
var CompatPrograms = []string{"tpm_version", "tpm_nvinfo"}

type compatOpts struct {
	device   string
	index    uint32
	indexSet bool
	listOnly bool
}

// compatLong are the long options, per program: tpm-tools' generic ones
// (help, version, log) plus the program's, plus xt's device.
var compatLong = map[string][]string{
	"tpm_version": {"help", "version", "log", "device"},
	"tpm_nvinfo":  {"help", "version", "log", "index", "list-only", "device"},
}

const tpmToolsVersion = "1.3.9"

func compatHelp(w io.Writer, prog string) {
	fmt.Fprintf(w, "Usage: %s [options]\n", prog)
	fmt.Fprintf(w, "\t-h, --help\n\t\tDisplay command usage info.\n")
	fmt.Fprintf(w, "\t-v, --version\n\t\tDisplay command version info.\n")
	fmt.Fprintf(w, "\t-l, --log [none|error|info|debug]\n\t\tSet logging level.\n")
	if prog == "tpm_nvinfo" {
		fmt.Fprintf(w, "\t-i, --index\n\t\tIndex of the NVRAM area\n")
		fmt.Fprintf(w, "\t-n, --list-only\n\t\tOnly list the defined NVRAM areas' indices.\n")
	}
	fmt.Fprintf(w, "\t--device DEV\n\t\t(xt) TPM device: /dev/tpm0, unix:/path or tcp:host:port of an emulator\n")
}

// parseCompat reads the options as tpm-tools' getopt_long loop does:
// short options (bundled, attached values), long options and unique
// prefixes, "--" ends options, other arguments are ignored. -i and -n
// cancel each other; the last one wins.
func parseCompat(prog string, args []string, stdout, stderr io.Writer) (compatOpts, int, bool) {
	o := compatOpts{device: device.DefaultPath}
	longs := compatLong[prog]
	needsArg := map[string]bool{"log": true, "index": true, "device": true}
	shorts := map[byte]string{'h': "help", 'v': "version", 'l': "log"}
	if prog == "tpm_nvinfo" {
		shorts['i'], shorts['n'] = "index", "list-only"
	}
	apply := func(name, val string) (int, bool) {
		switch name {
		case "help":
			compatHelp(stdout, prog)
			return compatExitFailure, false
		case "version":
			fmt.Fprintf(stdout, "%s version: %s\n", prog, tpmToolsVersion)
			return compatExitFailure, false
		case "index":
			v, err := strconv.ParseUint(val, 0, 32)
			if err != nil || strings.HasPrefix(val, "-") {
				fmt.Fprintf(stderr, "NVRAM index must be a positive integer.\n")
				return compatExitFailure, false
			}
			o.index, o.indexSet, o.listOnly = uint32(v), true, false
		case "list-only":
			o.listOnly, o.indexSet = true, false
		case "device":
			o.device = val
		}
		return 0, true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return o, 0, true
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			full := ""
			var matches []string
			for _, l := range longs {
				if l == name {
					matches = []string{l}
					break
				}
				if name != "" && strings.HasPrefix(l, name) {
					matches = append(matches, l)
				}
			}
			switch len(matches) {
			case 1:
				full = matches[0]
			case 0:
				fmt.Fprintf(stderr, "%s: unrecognized option '%s'\n", prog, a)
				compatHelp(stdout, prog)
				return o, compatExitFailure, false
			default:
				fmt.Fprintf(stderr, "%s: option '%s' is ambiguous\n", prog, a)
				compatHelp(stdout, prog)
				return o, compatExitFailure, false
			}
			if needsArg[full] && !hasVal {
				if i+1 >= len(args) {
					fmt.Fprintf(stderr, "%s: option '--%s' requires an argument\n", prog, full)
					compatHelp(stdout, prog)
					return o, compatExitFailure, false
				}
				i++
				val = args[i]
			} else if !needsArg[full] && hasVal {
				fmt.Fprintf(stderr, "%s: option '--%s' doesn't allow an argument\n", prog, full)
				compatHelp(stdout, prog)
				return o, compatExitFailure, false
			}
			if code, ok := apply(full, val); !ok {
				return o, code, false
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				name, ok := shorts[a[j]]
				if !ok {
					fmt.Fprintf(stderr, "%s: invalid option -- '%c'\n", prog, a[j])
					compatHelp(stdout, prog)
					return o, compatExitFailure, false
				}
				val := ""
				if needsArg[name] {
					switch {
					case j+1 < len(a):
						val = a[j+1:]
					case i+1 < len(args):
						i++
						val = args[i]
					default:
						fmt.Fprintf(stderr, "%s: option requires an argument -- '%c'\n", prog, a[j])
						compatHelp(stdout, prog)
						return o, compatExitFailure, false
					}
				}
				if code, ok := apply(name, val); !ok {
					return o, code, false
				}
				if needsArg[name] {
					break
				}
			}
		}
		// Other arguments: getopt permutes them to the end; tpm-tools
		// never reads them.
	}
	return o, 0, true
}

// CompatMain runs prog ("tpm_version" or "tpm_nvinfo") as tpm-tools would.
func CompatMain(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) int {
	o, code, ok := parseCompat(prog, args, stdout, stderr)
	if !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dev, err := device.Open(ctx, o.device, device.Options{Timeout: device.DefaultTimeout, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return compatExitFailure
	}
	defer dev.Close()
	fam, err := Detect(ctx, dev)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return compatExitFailure
	}
	if fam != Family12 {
		fmt.Fprintf(stderr, "%s: %s is a TPM 2.0; tpm-tools (and this drop-in) speak TPM 1.2 only: use `xt tpm %s`\n",
			prog, o.device, strings.TrimPrefix(prog, "tpm_"))
		return compatExitFailure
	}
	t := NewTPM12(dev)
	switch prog {
	case "tpm_version":
		v, err := t.Version(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
			return compatExitFailure
		}
		if err := WriteVersionCompat(stdout, v); err != nil {
			return compatExitFailure
		}
		return 0
	}
	list, err := t.NVList(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return compatExitFailure
	}
	e := &errWriter{w: stdout}
	if o.listOnly {
		e.printf("The following NVRAM areas have been defined:\n")
	}
	for _, idx := range list {
		switch {
		case o.listOnly:
			e.printf("0x%08x (%d)\n", idx, int32(idx))
		case !o.indexSet || idx == o.index:
			nv, err := t.NVIndex(ctx, idx)
			if err != nil {
				// tpm-tools prints the index line, then nothing for it.
				e.printf("NVRAM index   : 0x%08x (%d)\n\n", idx, idx)
				continue
			}
			writeNVIndexCompat(e, nv)
			e.printf("\n")
		}
	}
	if e.err != nil {
		return compatExitFailure
	}
	return 0
}

// WriteVersionCompat prints v exactly as tpm-tools' tpm_version does: the
// vendor ID's four bytes as they are (a NUL included), the vendor-specific
// bytes in groups of four when there are any, and nothing more.
func WriteVersionCompat(w io.Writer, v *Version12) error {
	e := &errWriter{w: w}
	e.printf("  TPM 1.2 Version Info:\n")
	e.printf("  Chip Version:        %s\n", v.ChipVersion)
	e.printf("  Spec Level:          %d\n", v.SpecLevel)
	e.printf("  Errata Revision:     %d\n", v.ErrataRevision)
	e.printf("  TPM Vendor ID:       %s\n", string(v.VendorIDRaw))
	if len(v.VendorSpecific) > 0 {
		e.printf("  Vendor Specific data: %s\n", groupHex(v.VendorSpecific))
	}
	e.printf("  TPM Version:         %s\n", v.TPMVersion)
	e.printf("  Manufacturer Info:   %s\n", v.Manufacturer)
	return e.err
}

// writeNVIndexCompat prints one index as tpm_nvinfo does.
func writeNVIndexCompat(e *errWriter, nv *NVIndex12) {
	e.printf("NVRAM index   : 0x%08x (%d)\n", nv.Index, nv.Index)
	pcr := func(label string, p PCRInfoShort) {
		e.printf("PCR %sselection:\n", label)
		pcrs := p.PCRs()
		if len(pcrs) > 0 {
			s := make([]string, len(pcrs))
			for i, n := range pcrs {
				s[i] = strconv.Itoa(n)
			}
			e.printf(" PCRs\t : %s\n", strings.Join(s, ", "))
		}
		switch {
		case p.Locality == 0x1f:
			e.printf(" Localities   : ALL\n")
		case p.Locality != 0:
			e.printf(" Localities   : 0x%01x\n", p.Locality)
		}
		if len(pcrs) > 0 {
			d := make([]byte, 20)
			copy(d, p.Digest)
			e.printf(" Hash\t : %x\n", d)
		}
	}
	pcr("read  ", nv.ReadPCRs)
	pcr("write ", nv.WritePCRs)
	var names []string
	for _, b := range perm12Names {
		if nv.Permissions&b.bit != 0 {
			names = append(names, b.name)
		}
	}
	e.printf("Permissions   : 0x%08x (%s)\n", nv.Permissions, strings.Join(names, "|"))
	e.printf("bReadSTClear  : %s\n", upperBool(nv.ReadSTClear))
	e.printf("bWriteSTClear : %s\n", upperBool(nv.WriteSTClear))
	e.printf("bWriteDefine  : %s\n", upperBool(nv.WriteDefine))
	e.printf("Size          : %d (0x%x)\n", int32(nv.Size), nv.Size)
}
