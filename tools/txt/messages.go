package txt

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// msgClass is one kind of decisive tboot message: the literal text tboot
// prints (from tboot's tboot/common, tboot/txt sources, 1.7 to 1.11), what
// it means for the launch, and what to do about it.
type msgClass struct {
	ID string
	// Prefixes and Contains are matched against the cleaned message text
	// (after "TBOOT:", trimmed); any one match classifies the message.
	Prefixes []string
	Contains []string
	Finding  string
	Step     string
	// Blocks is set when the condition stops a measured launch.
	Blocks bool
	// NoTXT is set when the message proves the platform cannot do TXT at
	// all (so a txt-stat "measured launch: TRUE" is a misread register).
	NoTXT bool
}

const (
	stepNoTXTHardware = "this hardware cannot do a measured launch: no SINIT ACM, firmware setting or TPM change will help. Boot without tboot, or use a TXT-capable (vPro) processor and chipset"
	stepEnableTXT     = "enable Intel TXT (sometimes called LT) in the firmware setup; it is offered only when VT-x and VT-d are enabled and the TPM is enabled and activated. If there is no such option, ask the board vendor for a firmware with TXT support"
	stepSINIT         = "pass the SINIT ACM made for this platform as a boot module (grub: module2 /boot/<sinit>.bin as the last module); the per-module reasons show what each offered module expects"
	stepTPMPresent    = "enable the TPM in the firmware setup (discrete TPM or Intel PTT), check it is seated/selected as the active TPM, then boot again; `xt tpm version` shows whether the OS sees it"
	stepVLP           = "tboot's verified-launch policy (TPM NV index 0x20000001 on TPM 1.2, 0x01C10131 or 0x01200001 on TPM 2.0) no longer matches the kernel/initrd/modules: regenerate it with tb_polgen and write it again, or undefine the index to run without a policy"
)

var msgClasses = []msgClass{
	{ID: "no-smx", Prefixes: []string{"ERR: CPU does not support SMX", "SMX not supported"},
		Finding: "the CPU does not support SMX (Safer Mode Extensions): TXT is impossible on this processor", Step: stepNoTXTHardware, Blocks: true, NoTXT: true},
	{ID: "no-txt-chipset", Prefixes: []string{"ERR: TXT-capable chipset not present"},
		Finding: "the chipset is not TXT-capable: TXT is impossible on this platform", Step: stepNoTXTHardware, Blocks: true, NoTXT: true},
	{ID: "smx-caps", Prefixes: []string{"ERR: insufficient SMX capabilities"},
		Finding: "the processor lacks GETSEC leaves TXT needs (insufficient SMX capabilities)", Step: stepNoTXTHardware, Blocks: true, NoTXT: true},
	{ID: "non-intel", Prefixes: []string{"Non-Intel CPU detected", "CPUID instruction is not supported"},
		Finding: "not an Intel CPU: TXT is impossible (AMD's equivalent is SKINIT, which tboot does not use)", Step: stepNoTXTHardware, Blocks: true, NoTXT: true},
	{ID: "senter-disabled", Prefixes: []string{"ERR: SENTER disabled by feature control MSR"},
		Finding: "TXT is disabled in the firmware (IA32_FEATURE_CONTROL does not enable SENTER)", Step: stepEnableTXT, Blocks: true},
	{ID: "feature-control-unlocked", Prefixes: []string{"ERR: IA32_FEATURE_CONTROL_MSR_LOCK is not locked"},
		Finding: "the firmware left IA32_FEATURE_CONTROL unlocked, so TXT is not enabled", Step: stepEnableTXT, Blocks: true},
	{ID: "vmx-disabled", Prefixes: []string{"ERR: VMXON disabled by feature control MSR", "ERR: CPU does not support VMX", "VMX not supported"},
		Finding: "VT-x (VMX, including VMX inside SMX) is disabled or missing", Step: "enable Intel Virtualization Technology (VT-x) in the firmware setup, then TXT", Blocks: true},
	{ID: "vtd-disabled", Prefixes: []string{"DMAR table not found", "txt_verify_platform: VT-d is not enabled by BIOS"},
		Finding: "VT-d is not enabled (no DMAR ACPI table)", Step: "enable VT-d (Intel Virtualization Technology for Directed I/O) in the firmware setup", Blocks: true},
	{ID: "txt-not-supported", Prefixes: []string{"TXT not supported.", "txt_verify_platform: TXT support check failed"},
		Finding: "tboot found the platform not ready for TXT (the ERR: line before it says why)", Step: stepEnableTXT, Blocks: true},
	{ID: "sinit-not-provided", Prefixes: []string{"SINIT ACM not provided", "no SINIT AC module found"},
		Finding: "no usable SINIT ACM: none was passed that matches this platform and the BIOS has none", Step: stepSINIT, Blocks: true},
	{ID: "sinit-search-aborted", Prefixes: []string{"Search for SINIT ACM module has been aborted"},
		Finding: "tboot gave up looking for the SINIT ACM among the boot modules", Step: stepSINIT, Blocks: true},
	{ID: "bios-sinit-region-small", Prefixes: []string{"BIOS-reserved SINIT size"}, Contains: []string{"too small for loaded"},
		Finding: "the memory the firmware reserved for SINIT (TXT.SINIT.SIZE) is smaller than the SINIT ACM passed", Step: "use the SINIT release that matches this firmware generation (a smaller, older one), or update the firmware so it reserves more; the region size is set by the BIOS, not by tboot", Blocks: true},
	{ID: "using-bios-sinit", Prefixes: []string{"no SINIT provided by bootloader; using BIOS SINIT"},
		Finding: "no SINIT was passed by the bootloader; tboot uses the one the firmware loaded (fine if it is current)", Step: "if the launch then fails in the ACM, pass the newest SINIT for this platform as a boot module: tboot uses it when it is newer than the firmware's"},
	{ID: "acm-verify-failed", Prefixes: []string{"verifying AC module failed"},
		Finding: "the SINIT ACM failed tboot's checks (corrupt, truncated, or not an ACM for this processor)", Step: "compare the ACM's sha256 with the one in Intel's SINIT zip and pass the file for this platform", Blocks: true},
	{ID: "acm-client-server", Prefixes: []string{"Error: Non-client ACM on client platform", "Error: Non-server ACM on server platform"},
		Finding: "the SINIT ACM is for the other platform type (client vs server)", Step: stepSINIT, Blocks: true},
	{ID: "tpm-not-present", Prefixes: []string{"TPM is not available", "TPM: Access reg not valid", "Nothing to do: No TPM present"},
		Finding: "no TPM answers at the TPM interface (not present, disabled, or another TPM is selected)", Step: stepTPMPresent, Blocks: true},
	{ID: "tpm-not-ready", Prefixes: []string{"TPM not ready", "TPM: Locality 0 is not open", "TPM: FIFO_INF Locality 0 is not open", "TPM: CRB_INF Locality 0 request failed", "TPM: tpm_validate_locality timeout", "TPM: tpm_validate_locality_crb timeout"},
		Finding: "the TPM is not ready for a measured launch (locality 0 cannot be opened)", Step: stepTPMPresent + "; if it persists, clear the TPM from the firmware setup", Blocks: true},
	{ID: "tpm-disabled", Prefixes: []string{"TPM is disabled", "TPM is deactivated"},
		Finding: "the TPM is disabled or deactivated", Step: "enable and activate the TPM in the firmware setup, then boot again", Blocks: true},
	{ID: "prev-txt-error", Prefixes: []string{"previous measured launch had errors, skipping measured launch"},
		Finding: "tboot skipped the measured launch because the previous one failed (TXT.ERRORCODE from the last boot; see that code)", Step: "fix what the previous boot's TXT.ERRORCODE names, then power-cycle; to retry regardless, add ignore_prev_err=true to the tboot command line", Blocks: true},
	{ID: "vlp-failed", Prefixes: []string{"verifying module against policy failed", "modules in mbi but not in policy", "policy invalid.", "verifying nv against policy failed"},
		Finding: "tboot's own verified-launch policy rejected the modules", Step: stepVLP, Blocks: true},
	{ID: "lcp-read-failed", Prefixes: []string{"failed to read policy from TPM NV, using default"},
		Finding: "no tboot policy in TPM NV; tboot uses its default policy (not a failure)"},
	{ID: "post-launch-failed", Prefixes: []string{"verification of post-launch failed", "txt_post_launch_verify_platform: Failed"},
		Finding: "SINIT returned, but tboot's post-launch checks failed", Step: "capture with loglvl=all: the line before names the check (TXT heap, MTRRs or DMA protection); a firmware update usually fixes heap/MTRR mismatches", Blocks: true},
	{ID: "tpm-double-aux", Prefixes: []string{"Nothing to do: double AUX index is not valid TXT configuration"},
		Finding: "two AUX indices are defined in the TPM (TPM 1.2 and 2.0 style), which is not a valid TXT configuration", Step: "remove the extra AUX index: clear the TPM from the firmware setup so the firmware provisions one AUX index again", Blocks: true},
	{ID: "aux-invalid", Prefixes: []string{"Nothing to do: invalid AUX index attributes"},
		Finding: "the AUX index has wrong attributes", Step: stepAUX, Blocks: true},
	{ID: "po-invalid", Prefixes: []string{"Error: invalid PO index attributes"},
		Finding: "the PO (platform owner) launch-control index has wrong attributes", Step: stepPO, Blocks: true},
	{ID: "fatal", Prefixes: []string{"generic fatal error."},
		Finding: "tboot stopped with a fatal error (the messages before it say where)", Step: "capture with loglvl=all and read the ERR lines just before \"generic fatal error\"", Blocks: true},
}

const (
	stepAUX = "the AUX index (0x01C10102 on TPM 2.0, 0x50000003 on TPM 1.2) belongs to the platform: the firmware defines it (platform hierarchy, platform write) for SINIT. It cannot be made from the OS: clear the TPM in the firmware setup and boot once so the firmware provisions it, or update the firmware"
	stepPS  = "the PS (platform supplier) launch-control index (0x01C10103 on TPM 2.0, 0x50000001 on TPM 1.2) is written by the platform manufacturer (platform hierarchy); it is optional. If the firmware should have it, clear the TPM in the firmware setup and let the firmware provision it again"
	stepPO  = "the PO (platform owner) launch-control index (0x01C10106 on TPM 2.0, 0x40000001 on TPM 1.2) is optional; to use it, define it with owner authorisation, owner-only write and read without authorisation (SINIT reads it), sized for the policy lcp2_crtpol writes, then write the policy; or undefine it so SINIT uses the PS or default policy"
)

// nvRole names the TXT or tboot role of a TPM NV index and what to do
// when it is missing or unreadable.
func nvRole(index uint32) (role, step string) {
	switch index {
	case 0x01C10102, 0x01800003, 0x50000003, 0x50000002:
		return "AUX index", stepAUX
	case 0x01C10103, 0x01800001, 0x50000001:
		return "PS launch-control index", stepPS
	case 0x01C10106, 0x01400001, 0x40000001:
		return "PO launch-control index", stepPO
	case 0x01C10131, 0x01200001, 0x20000001:
		return "tboot verified-launch policy index", "optional: tboot runs with its default policy without it; to use one, define it with tb_polgen's size as owner-written (OWNERWRITE) and write the policy"
	case 0x01C10132, 0x01200002, 0x20000002:
		return "tboot launch-error index", "optional: define it (8 bytes, owner-written) if tboot should record its errors across boots"
	case 0x01C10104, 0x01800004, 0x50000004:
		return "SGX SVN index", "written by tboot for SGX: provisioned by the firmware; clear the TPM in the firmware setup if it is missing"
	}
	return "NV index", "check the index with `xt tpm nvinfo`"
}

var (
	reNVPublic = regexp.MustCompile(`fail to get public data of 0x([0-9a-fA-F]+) in TPM NV`)
	reNVRead   = regexp.MustCompile(`read NV index ([0-9a-fA-F]+) from offset [0-9a-fA-F]+, return value = ([0-9a-fA-F]+)`)
	reNVReadP  = regexp.MustCompile(`Error: read TPM error: 0x([0-9a-fA-F]+) from index ([0-9a-fA-F]+)`)
	reNVVerify = regexp.MustCompile(`verifying nv index 0x([0-9a-fA-F]+)`)
	reLCP2     = regexp.MustCompile(`LCP2 error:\s+minor error = 0x([0-9a-fA-F]+), index = (\d+)`)
)

// Event is a decisive message found in a boot.
type Event struct {
	ID   string `json:"id"`
	Line int    `json:"line"`
	// Text is tboot's message as logged.
	Text string `json:"tboot"`
	// Index is the NV index an NV event is about.
	Index uint32 `json:"nv_index,omitempty"`
}

// classify returns the event for a message, if it is decisive.
func classify(l LogLine) (Event, bool) {
	t := l.Text
	for _, c := range msgClasses {
		hit := false
		for _, p := range c.Prefixes {
			if strings.HasPrefix(t, p) {
				hit = true
				break
			}
		}
		if hit && len(c.Contains) > 0 {
			for _, s := range c.Contains {
				hit = hit && strings.Contains(t, s)
			}
		}
		if hit {
			return Event{ID: c.ID, Line: l.No, Text: t}, true
		}
	}
	if !strings.Contains(t, "NV") && !strings.Contains(t, "nv index") && !strings.Contains(t, "LCP2") && !strings.Contains(t, "from index") {
		return Event{}, false
	}
	hexIdx := func(s string) uint32 { v, _ := strconv.ParseUint(s, 16, 32); return uint32(v) }
	if m := reNVPublic.FindStringSubmatch(t); m != nil {
		return Event{ID: "nv-missing", Line: l.No, Text: t, Index: hexIdx(m[1])}, true
	}
	if m := reNVRead.FindStringSubmatch(t); m != nil && hexIdx(m[2]) != 0 {
		return Event{ID: "nv-unreadable", Line: l.No, Text: t, Index: hexIdx(m[1])}, true
	}
	if m := reNVReadP.FindStringSubmatch(t); m != nil {
		return Event{ID: "nv-unreadable", Line: l.No, Text: t, Index: hexIdx(m[2])}, true
	}
	if m := reLCP2.FindStringSubmatch(t); m != nil {
		return Event{ID: "lcp-failed", Line: l.No, Text: t}, true
	}
	return Event{}, false
}

func classByID(id string) (msgClass, bool) {
	for _, c := range msgClasses {
		if c.ID == id {
			return c, true
		}
	}
	return msgClass{}, false
}

// eventFinding turns an event into a finding, a next step and whether it
// stops the launch.
func eventFinding(e Event) (finding, step string, blocks bool) {
	quote := fmt.Sprintf(" (line %d: %q)", e.Line, e.Text)
	switch e.ID {
	case "nv-missing":
		role, st := nvRole(e.Index)
		if strings.HasPrefix(st, "optional") {
			return fmt.Sprintf("TPM NV index 0x%08X (%s) is not defined; it is optional", e.Index, role) + quote, "", false
		}
		return fmt.Sprintf("TPM NV index 0x%08X (%s) is not defined", e.Index, role) + quote, st, false
	case "nv-unreadable":
		role, st := nvRole(e.Index)
		return fmt.Sprintf("TPM NV index 0x%08X (%s) could not be read", e.Index, role) + quote, st, false
	case "lcp-failed":
		return "the launch control policy (LCP) rejected this launch" + quote,
			"check the LCP policy in TPM NV (PO index 0x01C10106 on TPM 2.0, 0x40000001 on TPM 1.2): its MLE hashes must include this tboot (lcp2_mlehash); or undefine the PO index to use the platform default", true
	}
	c, ok := classByID(e.ID)
	if !ok {
		return e.Text, "", false
	}
	return c.Finding + quote, c.Step, c.Blocks
}
