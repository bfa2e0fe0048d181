package txt

import (
	"fmt"
	"sort"
	"strings"
)

// ACMTable holds what is known about one ACM's error codes. Intel publishes
// a SINIT error list per platform (a PDF in the ACM's zip); only entries we
// have a source for are carried here, and each says where it comes from.
type ACMTable struct {
	Key     string
	Aliases []string
	Name    string
	Origin  string
	Classes map[uint32]string
	Majors  map[[2]uint32]string // {class, major}
	Minors  map[[3]uint32]string // {class, major, minor}
}

// genericTable is tboot's public table (txt/errors.c). tboot uses it for
// RACM errors; these class codes are shared across ACM generations, which
// the Ivy Bridge SINIT's class 0x4/major 0x4 confirms.
var genericTable = ACMTable{
	Key:    "tboot",
	Name:   "class codes shared across ACM generations",
	Origin: originTboot,
	Classes: map[uint32]string{
		0x1:  "ACM entry",
		0x4:  "TPM access",
		0x8:  "misc config",
		0x10: "LCP (launch control policy)",
	},
	Majors: map[[2]uint32]string{
		{0x1, 0x1}:  "launch",
		{0x1, 0x2}:  "NEM enabled",
		{0x1, 0x3}:  "CPU LT type",
		{0x1, 0x4}:  "device ID",
		{0x1, 0x5}:  "CPU ID",
		{0x1, 0x6}:  "no microcode update",
		{0x1, 0x7}:  "debug MCU",
		{0x1, 0x8}:  "DMI link down",
		{0x1, 0x9}:  "ACM revoked",
		{0x1, 0xA}:  "TPM double AUX",
		{0x4, 0x0}:  "OK",
		{0x4, 0x1}:  "TPM returned an error",
		{0x4, 0x2}:  "locality",
		{0x4, 0x3}:  "access invalid",
		{0x4, 0x4}:  "TPM NV RAM not locked",
		{0x4, 0x5}:  "TPM disabled",
		{0x4, 0x6}:  "TPM deactivated",
		{0x4, 0x7}:  "TPM NV indices incorrectly defined",
		{0x4, 0x8}:  "incompatible BIOS ACM",
		{0x4, 0x9}:  "incompatible AUX revision",
		{0x4, 0xA}:  "input buffer too short",
		{0x4, 0xB}:  "output buffer too short",
		{0x4, 0x10}: "PO index invalid",
		{0x4, 0x1B}: "TPM driver: output buffer too short",
		{0x4, 0x1C}: "TPM driver: invalid input parameter",
		{0x4, 0x1D}: "TPM driver: invalid response on write",
		{0x4, 0x1E}: "TPM driver: invalid response on read",
		{0x4, 0x1F}: "TPM driver: response timeout",
		{0x8, 0x1}:  "interrupt",
		{0x8, 0x10}: "forbidden by owner",
		{0x8, 0x11}: "tool launch",
		{0x8, 0x12}: "cannot reverse",
		{0x8, 0x13}: "already revoked",
		{0x8, 0x14}: "invalid return address",
		{0x8, 0x15}: "no TPM",
		{0xD, 0xA}:  "TPM error (minor is the TPM return code)",
	},
}

// acmTables are the ACM-specific tables, keyed by a short platform name.
var acmTables = []*ACMTable{
	{
		Key:     "ivb",
		Aliases: []string{"ivy-bridge", "3rd-gen"},
		Name:    "2nd/3rd gen Core (Sandy Bridge/Ivy Bridge) SINIT",
		Origin:  "Intel's IVB SINIT error list (as decoded in the IVB NUC post)",
		Classes: map[uint32]string{0x4: "TPM Access"},
		Majors:  map[[2]uint32]string{{0x4, 0x4}: "TPM NV is unlocked"},
		Minors:  map[[3]uint32]string{{0x4, 0x4, 0x2}: "Fatal and TPM specific"},
	},
	{
		Key:     "bdw",
		Aliases: []string{"broadwell", "5th-gen"},
		Name:    "5th gen Core (Broadwell) SINIT",
		Origin:  "Intel's Broadwell SINIT error list (as cited on tboot-devel)",
		Minors:  map[[3]uint32]string{{0x5, 0xD, 0x3}: "invalid PMR configuration"},
	},
}

// LookupACMTable finds an ACM-specific table by key or alias.
func LookupACMTable(name string) (*ACMTable, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, t := range acmTables {
		if t.Key == n {
			return t, true
		}
		for _, a := range t.Aliases {
			if a == n {
				return t, true
			}
		}
	}
	return nil, false
}

// ACMTableNames lists the keys accepted by Decode's acm argument.
func ACMTableNames() []string {
	var names []string
	for _, t := range acmTables {
		names = append(names, t.Key)
	}
	sort.Strings(names)
	return names
}

// lookupACMMeanings fills in class/major/minor meanings: the ACM-specific
// table first, then tboot's shared table, and the two special layouts tboot
// knows (TPM return code, LCP2 error).
func lookupACMMeanings(tab *ACMTable, module, class, major, minor uint32, classF, majorF, minorF *Field, d *Decoded) {
	tabs := []*ACMTable{}
	if tab != nil {
		tabs = append(tabs, tab)
	}
	tabs = append(tabs, &genericTable)
	for _, t := range tabs {
		if classF.Meaning == "" {
			if m, ok := t.Classes[class]; ok {
				classF.Meaning, classF.Origin = m, t.Origin
			}
		}
		if majorF.Meaning == "" {
			if m, ok := t.Majors[[2]uint32{class, major}]; ok {
				majorF.Meaning, majorF.Origin = m, t.Origin
			}
		}
		if minorF.Meaning == "" {
			if m, ok := t.Minors[[3]uint32{class, major, minor}]; ok {
				minorF.Meaning, minorF.Origin = m, t.Origin
			}
		}
	}
	switch {
	case class == 0xD && major == 0xA:
		if minorF.Meaning == "" {
			minorF.Meaning = fmt.Sprintf("TPM return code 0x%x", minor)
			if n, ok := tpm12ReturnCodes[minor]; ok {
				minorF.Meaning += " (" + n + ")"
			}
			minorF.Origin = originTboot
		}
		d.Notes = append(d.Notes, fmt.Sprintf("TPM error: the TPM returned 0x%x to the ACM", minor))
	case class == 0x10:
		lcpMinor := bits(d.Code, 21, 16)
		index := bits(d.Code, 24, 22)
		if minorF.Meaning == "" {
			minorF.Meaning = fmt.Sprintf("LCP2 error 0x%x at policy element index %d", lcpMinor, index)
			minorF.Origin = originTboot
		}
	}
	const unknown = "unknown (no table entry)"
	if class == 0 && major == 0 && IsSuccess(d.Code) {
		classF.Meaning, majorF.Meaning, minorF.Meaning = "none (success)", "none (success)", "none (success)"
		classF.Origin, majorF.Origin, minorF.Origin = originTboot, originTboot, originTboot
		return
	}
	missing := false
	for _, f := range []*Field{classF, majorF, minorF} {
		if f.Meaning == "" {
			f.Meaning = unknown
			missing = true
		}
	}
	if missing {
		if tab == nil {
			d.Notes = append(d.Notes, "fields without a meaning are ACM-specific: pass --acm for this platform's ACM ("+strings.Join(ACMTableNames(), ", ")+") or look them up in the SINIT error list shipped in the ACM's zip")
		} else {
			d.Notes = append(d.Notes, "fields without a meaning are not in the "+tab.Key+" table we carry: look them up in the SINIT error list shipped in the ACM's zip")
		}
	}
}

// tpm12ReturnCodes names the TPM 1.2 return codes an ACM is most likely to
// pass through (TPM 1.2 main spec part 2, section 16).
var tpm12ReturnCodes = map[uint32]string{
	0x01: "TPM_AUTHFAIL",
	0x02: "TPM_BADINDEX",
	0x03: "TPM_BAD_PARAMETER",
	0x06: "TPM_DEACTIVATED",
	0x07: "TPM_DISABLED",
	0x09: "TPM_FAIL",
	0x0A: "TPM_BAD_ORDINAL",
	0x26: "TPM_INVALID_POSTINIT",
	0x2D: "TPM_BAD_PRESENCE",
}
