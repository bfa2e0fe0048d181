package txt

import (
	"fmt"
	"strings"
)

// MatchResult is our own evaluation of an ACM against the platform, using
// the rules tboot applies (txt/acmod.c), so a report can say *why*.
type MatchResult struct {
	// Evaluated is false when the log lacks the platform ids or the ACM's
	// lists, so nothing could be computed.
	Evaluated bool
	// ChipsetEntry and ProcessorEntry are 1-based indexes of the first
	// matching entries, 0 for none.
	ChipsetEntry   int
	ProcessorEntry int
	// ProcessorChecked is false when the ACM has no processor list (older
	// info tables), which tboot then does not check.
	ProcessorChecked bool
	Match            bool
	Reason           string
}

// ChipsetMatches applies tboot's rule: vendor and device must be equal;
// with flags bit 0 clear the revision must be equal, with it set the ACM's
// revision is a mask that must share a bit with the platform's.
func ChipsetMatches(p Platform, c ChipsetID) bool {
	if p.Vendor != c.Vendor || p.Device != c.Device {
		return false
	}
	if c.Flags&1 == 0 {
		return p.Revision == c.Revision
	}
	return p.Revision&c.Revision != 0
}

// ProcessorMatches applies tboot's rule: the platform's FMS under the
// entry's mask equals the entry's FMS, and likewise for the platform id.
func ProcessorMatches(p Platform, e ProcessorID) bool {
	return p.FMS&e.FMSMask == e.FMS && p.PlatformID&e.PlatformMask == e.PlatformID
}

// Evaluate checks one ACM against the platform.
func Evaluate(p Platform, a *ACMAttempt) MatchResult {
	var r MatchResult
	if !p.ChipsetKnown || len(a.Chipsets) == 0 {
		return r
	}
	r.Evaluated = true
	for i, c := range a.Chipsets {
		if ChipsetMatches(p, c) {
			r.ChipsetEntry = i + 1
			break
		}
	}
	if r.ChipsetEntry == 0 {
		var listed []string
		for _, c := range a.Chipsets {
			listed = append(listed, chipsetString(c))
		}
		r.Reason = fmt.Sprintf("chipset %04x:%04x rev 0x%x is not in the ACM's list (%s)",
			p.Vendor, p.Device, p.Revision, strings.Join(listed, "; "))
		return r
	}
	c := a.Chipsets[r.ChipsetEntry-1]
	why := fmt.Sprintf("chipset entry %d (%s) matches %04x:%04x rev 0x%x", r.ChipsetEntry, chipsetString(c), p.Vendor, p.Device, p.Revision)
	if len(a.Processors) == 0 {
		r.Match = true
		r.Reason = why + "; the ACM lists no processors, so none are checked"
		return r
	}
	if !p.FMSKnown || !p.PlatformIDKnown {
		r.Evaluated = false
		r.Reason = why + "; processor ids not in the log"
		return r
	}
	r.ProcessorChecked = true
	for i, e := range a.Processors {
		if ProcessorMatches(p, e) {
			r.ProcessorEntry = i + 1
			break
		}
	}
	if r.ProcessorEntry == 0 {
		r.Reason = fmt.Sprintf("%s, but processor fms 0x%x (%s) / platform id 0x%x matches none of its %d processor entries",
			why, p.FMS, DescribeFMS(p.FMS), p.PlatformID, len(a.Processors))
		return r
	}
	e := a.Processors[r.ProcessorEntry-1]
	r.Match = true
	r.Reason = fmt.Sprintf("%s; processor entry %d (fms 0x%x mask 0x%x, platform id 0x%x mask 0x%x) matches fms 0x%x, platform id 0x%x",
		why, r.ProcessorEntry, e.FMS, e.FMSMask, e.PlatformID, e.PlatformMask, p.FMS, p.PlatformID)
	return r
}

func chipsetString(c ChipsetID) string {
	rev := fmt.Sprintf("rev 0x%x", c.Revision)
	if c.Flags&1 != 0 {
		rev = fmt.Sprintf("rev mask 0x%x", c.Revision)
	}
	return fmt.Sprintf("%04x:%04x %s", c.Vendor, c.Device, rev)
}

// DescribeFMS spells out a CPUID(1).EAX signature.
func DescribeFMS(fms uint32) string {
	family := (fms >> 8) & 0xf
	model := (fms >> 4) & 0xf
	if family == 6 || family == 0xf {
		model |= ((fms >> 16) & 0xf) << 4
	}
	if family == 0xf {
		family += (fms >> 20) & 0xff
	}
	return fmt.Sprintf("family 0x%x model 0x%x stepping 0x%x", family, model, fms&0xf)
}

// tableForACM picks the ACM-specific error table for a matched module: by
// its file name, else by the processors it lists (the IVB SINIT lists Ivy
// Bridge, model 0x3A, fms 0x306a0), else by the platform's own CPU.
func tableForACM(a *ACMAttempt, p Platform) string {
	if a != nil {
		n := strings.ToLower(a.Module)
		switch {
		case strings.Contains(n, "ivb"), strings.Contains(n, "3rd_gen"):
			return "ivb"
		case strings.Contains(n, "bdw"), strings.Contains(n, "5th_gen"):
			return "bdw"
		}
		for _, e := range a.Processors {
			if t := tableForCPU(e.FMS); t != "" {
				return t
			}
		}
	}
	if a != nil && p.FMSKnown {
		return tableForCPU(p.FMS & 0xfff3ff0)
	}
	return ""
}

func tableForCPU(maskedFMS uint32) string {
	switch maskedFMS {
	case 0x306a0: // Ivy Bridge, family 6 model 0x3A
		return "ivb"
	case 0x306d0, 0x40670: // Broadwell, family 6 models 0x3D and 0x47
		return "bdw"
	}
	return ""
}
