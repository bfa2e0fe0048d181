package tpm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/xtbuild/xtbuild/tools/tpm/device"
)

// States of the TPM that stop a command, whichever family reported them
// (test with errors.Is; RCError maps its codes onto these).
var (
	// ErrDisabled: TPM 1.2 TPM_DISABLED (0x7), the seed's kernel message
	// "TPM is disabled/deactivated (0x7)".
	ErrDisabled = errors.New("TPM is disabled")
	// ErrDeactivated: TPM 1.2 TPM_DEACTIVATED (0x6).
	ErrDeactivated = errors.New("TPM is deactivated")
	// ErrNotStarted: no TPM_Startup yet (1.2 TPM_INVALID_POSTINIT, 2.0 TPM_RC_INITIALIZE).
	ErrNotStarted = errors.New("TPM has not been started")
	// ErrFailureMode: the TPM failed its self test or was never initialised.
	ErrFailureMode = errors.New("TPM is in failure mode")
	// ErrNVLocked: TPM 1.2 NV is already locked (nvLocked is TRUE).
	ErrNVLocked = errors.New("TPM NV is already locked")
	// ErrNotApplicable: the operation has no meaning for this TPM family.
	ErrNotApplicable = errors.New("not applicable to this TPM")
	// ErrDeclined: the user did not confirm a change.
	ErrDeclined = errors.New("not confirmed")
)

// RCError is a non-zero return code from a TPM command. go-tpm's 1.2
// error type hides the code, so commands run through runCommand
// and this is built from the code in the response header.
type RCError struct {
	Family  Family
	Command string
	Code    uint32
}

func (e *RCError) Error() string {
	name := rc12Name(e.Code)
	if e.Family == Family20 {
		name = rc20Name(e.Code)
	}
	return fmt.Sprintf("%s: TPM returned 0x%x (%s)", e.Command, e.Code, name)
}

// Is maps the codes that describe the TPM's state onto this package's errors.
func (e *RCError) Is(target error) bool {
	if e.Family == Family20 {
		switch target {
		case ErrNotStarted:
			return e.Code == rc20Initialize
		case ErrFailureMode:
			return e.Code == rc20Failure
		}
		return false
	}
	switch target {
	case ErrDisabled:
		return e.Code == rcDisabled
	case ErrDeactivated:
		return e.Code == rcDeactivated
	case ErrNotStarted:
		return e.Code == rcInvalidPostInit
	case ErrFailureMode:
		return e.Code == rcFail || e.Code == rcFailedSelfTest
	}
	return false
}

// notExecuted reports codes after which the TPM did not run the command
// and asks to be asked again.
func (e *RCError) notExecuted() bool {
	if e.Family == Family20 {
		return e.Code == 0x922 || e.Code == 0x90A || e.Code == 0x908 // RETRY, TESTING, YIELDED
	}
	return e.Code == rcDoingSelfTest
}

// TPM 2.0 response codes the tool acts on (TPM 2.0 Part 2, 6.6).
const (
	rc20Initialize = 0x100
	rc20Failure    = 0x101
)

// rc20Names name TPM 2.0 format-zero codes and warnings.
var rc20Names = map[uint32]string{
	0x100: "TPM_RC_INITIALIZE", 0x101: "TPM_RC_FAILURE", 0x103: "TPM_RC_SEQUENCE", 0x120: "TPM_RC_DISABLED",
	0x121: "TPM_RC_EXCLUSIVE", 0x124: "TPM_RC_AUTH_TYPE", 0x125: "TPM_RC_AUTH_MISSING", 0x126: "TPM_RC_POLICY",
	0x127: "TPM_RC_PCR", 0x128: "TPM_RC_PCR_CHANGED", 0x12D: "TPM_RC_UPGRADE", 0x12E: "TPM_RC_TOO_MANY_CONTEXTS",
	0x12F: "TPM_RC_AUTH_UNAVAILABLE", 0x130: "TPM_RC_REBOOT", 0x131: "TPM_RC_UNBALANCED",
	0x142: "TPM_RC_COMMAND_SIZE", 0x143: "TPM_RC_COMMAND_CODE", 0x144: "TPM_RC_AUTHSIZE",
	0x145: "TPM_RC_AUTH_CONTEXT", 0x146: "TPM_RC_NV_RANGE", 0x147: "TPM_RC_NV_SIZE", 0x148: "TPM_RC_NV_LOCKED",
	0x149: "TPM_RC_NV_AUTHORIZATION", 0x14A: "TPM_RC_NV_UNINITIALIZED", 0x14B: "TPM_RC_NV_SPACE",
	0x14C: "TPM_RC_NV_DEFINED", 0x150: "TPM_RC_BAD_CONTEXT", 0x153: "TPM_RC_NEEDS_TEST",
	0x901: "TPM_RC_CONTEXT_GAP", 0x902: "TPM_RC_OBJECT_MEMORY", 0x903: "TPM_RC_SESSION_MEMORY",
	0x904: "TPM_RC_MEMORY", 0x907: "TPM_RC_LOCALITY", 0x908: "TPM_RC_YIELDED", 0x909: "TPM_RC_CANCELED",
	0x90A: "TPM_RC_TESTING", 0x920: "TPM_RC_NV_RATE", 0x921: "TPM_RC_LOCKOUT", 0x922: "TPM_RC_RETRY",
	0x923: "TPM_RC_NV_UNAVAILABLE",
}

// rc20Fmt1Names name TPM 2.0 format-one codes (bits 5:0 with 0x80 set).
var rc20Fmt1Names = map[uint32]string{
	0x081: "TPM_RC_ASYMMETRIC", 0x082: "TPM_RC_ATTRIBUTES", 0x083: "TPM_RC_HASH", 0x084: "TPM_RC_VALUE",
	0x085: "TPM_RC_HIERARCHY", 0x087: "TPM_RC_KEY_SIZE", 0x088: "TPM_RC_MGF", 0x089: "TPM_RC_MODE",
	0x08A: "TPM_RC_TYPE", 0x08B: "TPM_RC_HANDLE", 0x08C: "TPM_RC_KDF", 0x08D: "TPM_RC_RANGE",
	0x08E: "TPM_RC_AUTH_FAIL", 0x08F: "TPM_RC_NONCE", 0x090: "TPM_RC_PP", 0x092: "TPM_RC_SCHEME",
	0x095: "TPM_RC_SIZE", 0x096: "TPM_RC_SYMMETRIC", 0x097: "TPM_RC_TAG", 0x098: "TPM_RC_SELECTOR",
	0x09A: "TPM_RC_INSUFFICIENT", 0x09B: "TPM_RC_SIGNATURE", 0x09C: "TPM_RC_KEY", 0x09D: "TPM_RC_POLICY_FAIL",
	0x09F: "TPM_RC_INTEGRITY", 0x0A0: "TPM_RC_TICKET", 0x0A1: "TPM_RC_RESERVED_BITS", 0x0A2: "TPM_RC_BAD_AUTH",
	0x0A3: "TPM_RC_EXPIRED", 0x0A4: "TPM_RC_POLICY_CC", 0x0A5: "TPM_RC_BINDING", 0x0A6: "TPM_RC_CURVE",
	0x0A7: "TPM_RC_ECC_POINT",
}

// rc20Name decodes a TPM 2.0 response code, including which handle,
// parameter or session a format-one code is about.
func rc20Name(code uint32) string {
	if code&0x80 != 0 {
		name, ok := rc20Fmt1Names[0x80|code&0x3F]
		if !ok {
			name = fmt.Sprintf("format-one error 0x%x", 0x80|code&0x3F)
		}
		n := (code >> 8) & 0xF
		switch {
		case code&0x40 != 0:
			return fmt.Sprintf("%s, parameter %d", name, n)
		case n&0x8 != 0:
			return fmt.Sprintf("%s, session %d", name, n&0x7)
		case n != 0:
			return fmt.Sprintf("%s, handle %d", name, n)
		}
		return name
	}
	if name, ok := rc20Names[code]; ok {
		return name
	}
	return "unknown TPM 2.0 response code"
}

// TPM 1.2 return codes the tool acts on (TPM Main Part 2, section 16).
const (
	rcDeactivated     = 0x06
	rcDisabled        = 0x07
	rcFail            = 0x09
	rcFailedSelfTest  = 0x1C
	rcInvalidPostInit = 0x26
	rcBadPresence     = 0x2D
	rcDoingSelfTest   = 0x802
)

// rc12Names are the TPM 1.2 return code names (TPM_BASE + n), for messages.
var rc12Names = map[uint32]string{
	0x01: "TPM_AUTHFAIL", 0x02: "TPM_BADINDEX", 0x03: "TPM_BAD_PARAMETER", 0x04: "TPM_AUDITFAILURE",
	0x05: "TPM_CLEAR_DISABLED", 0x06: "TPM_DEACTIVATED", 0x07: "TPM_DISABLED", 0x08: "TPM_DISABLED_CMD",
	0x09: "TPM_FAIL", 0x0A: "TPM_BAD_ORDINAL", 0x0B: "TPM_INSTALL_DISABLED", 0x0C: "TPM_INVALID_KEYHANDLE",
	0x0D: "TPM_KEYNOTFOUND", 0x0E: "TPM_INAPPROPRIATE_ENC", 0x0F: "TPM_MIGRATEFAIL", 0x10: "TPM_INVALID_PCR_INFO",
	0x11: "TPM_NOSPACE", 0x12: "TPM_NOSRK", 0x13: "TPM_NOTSEALED_BLOB", 0x14: "TPM_OWNER_SET",
	0x15: "TPM_RESOURCES", 0x16: "TPM_SHORTRANDOM", 0x17: "TPM_SIZE", 0x18: "TPM_WRONGPCRVAL",
	0x19: "TPM_BAD_PARAM_SIZE", 0x1A: "TPM_SHA_THREAD", 0x1B: "TPM_SHA_ERROR", 0x1C: "TPM_FAILEDSELFTEST",
	0x1D: "TPM_AUTH2FAIL", 0x1E: "TPM_BADTAG", 0x1F: "TPM_IOERROR", 0x20: "TPM_ENCRYPT_ERROR",
	0x21: "TPM_DECRYPT_ERROR", 0x22: "TPM_INVALID_AUTHHANDLE", 0x23: "TPM_NO_ENDORSEMENT", 0x24: "TPM_INVALID_KEYUSAGE",
	0x25: "TPM_WRONG_ENTITYTYPE", 0x26: "TPM_INVALID_POSTINIT", 0x27: "TPM_INAPPROPRIATE_SIG", 0x28: "TPM_BAD_KEY_PROPERTY",
	0x29: "TPM_BAD_MIGRATION", 0x2A: "TPM_BAD_SCHEME", 0x2B: "TPM_BAD_DATASIZE", 0x2C: "TPM_BAD_MODE",
	0x2D: "TPM_BAD_PRESENCE", 0x2E: "TPM_BAD_VERSION", 0x2F: "TPM_NO_WRAP_TRANSPORT", 0x30: "TPM_AUDITFAIL_UNSUCCESSFUL",
	0x31: "TPM_AUDITFAIL_SUCCESSFUL", 0x32: "TPM_NOTRESETABLE", 0x33: "TPM_NOTLOCAL", 0x34: "TPM_BAD_TYPE",
	0x35: "TPM_INVALID_RESOURCE", 0x36: "TPM_NOTFIPS", 0x37: "TPM_INVALID_FAMILY", 0x38: "TPM_NO_NV_PERMISSION",
	0x39: "TPM_REQUIRES_SIGN", 0x3A: "TPM_KEY_NOTSUPPORTED", 0x3B: "TPM_AUTH_CONFLICT", 0x3C: "TPM_AREA_LOCKED",
	0x3D: "TPM_BAD_LOCALITY", 0x3E: "TPM_READ_ONLY", 0x3F: "TPM_PER_NOWRITE", 0x40: "TPM_FAMILYCOUNT",
	0x41: "TPM_WRITE_LOCKED", 0x42: "TPM_BAD_ATTRIBUTES", 0x43: "TPM_INVALID_STRUCTURE", 0x44: "TPM_KEY_OWNER_CONTROL",
	0x45: "TPM_BAD_COUNTER", 0x46: "TPM_NOT_FULLWRITE", 0x47: "TPM_CONTEXT_GAP", 0x48: "TPM_MAXNVWRITES",
	0x49: "TPM_NOOPERATOR", 0x4A: "TPM_RESOURCEMISSING", 0x4B: "TPM_DELEGATE_LOCK", 0x4C: "TPM_DELEGATE_FAMILY",
	0x4D: "TPM_DELEGATE_ADMIN", 0x4E: "TPM_TRANSPORT_NOTEXCLUSIVE", 0x4F: "TPM_OWNER_CONTROL",
	0x800: "TPM_RETRY", 0x801: "TPM_NEEDS_SELFTEST", 0x802: "TPM_DOING_SELFTEST", 0x803: "TPM_DEFEND_LOCK_RUNNING",
}

func rc12Name(code uint32) string {
	if n, ok := rc12Names[code]; ok {
		return n
	}
	return "unknown TPM 1.2 return code"
}

// Kind names the class of an error for --json output and scripts.
func Kind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, device.ErrNoTPM):
		return "no-tpm"
	case errors.Is(err, device.ErrPermission):
		return "permission-denied"
	case errors.Is(err, device.ErrBusy):
		return "busy"
	case errors.Is(err, device.ErrNotTPM):
		return "not-a-tpm"
	case errors.Is(err, device.ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrDisabled):
		return "disabled"
	case errors.Is(err, ErrDeactivated):
		return "deactivated"
	case errors.Is(err, ErrNotStarted):
		return "not-started"
	case errors.Is(err, ErrFailureMode):
		return "failure-mode"
	case errors.Is(err, ErrNVLocked):
		return "already-locked"
	case errors.Is(err, ErrNotApplicable):
		return "not-applicable"
	case errors.Is(err, ErrDeclined):
		return "declined"
	}
	return "error"
}

// Advice says what to do about an error, in a sentence or two; "" when
// there is nothing better to say than the error itself.
func Advice(err error, dev string) string {
	switch {
	case errors.Is(err, device.ErrNoTPM):
		return "Check `dmesg | grep -i tpm` and `ls -l /dev/tpm*`. If the BIOS does not set the TPM up " +
			"(no ACPI entry, e.g. an LPC TPM module on a PC Engines APU), make the kernel probe for it: " +
			"`modprobe tpm_tis force=1 interrupts=0`. For swtpm use --device unix:/path/to/socket."
	case errors.Is(err, device.ErrPermission) && strings.HasPrefix(dev, "unix:"):
		return "Run as the user swtpm runs as, or start swtpm with a socket your user may open " +
			"(--server type=unixio,path=...,mode=0660 and a shared group)."
	case errors.Is(err, device.ErrPermission):
		return "Run as root, or give your user access to " + dev + " (e.g. a udev rule: group tss, mode 0660)."
	case errors.Is(err, device.ErrBusy):
		return "/dev/tpm0 can be open only once: stop the daemon holding it (tcsd for TPM 1.2, tpm2-abrmd " +
			"for TPM 2.0), or on TPM 2.0 use --device /dev/tpmrm0."
	case errors.Is(err, device.ErrNotTPM):
		return "Check that --device names a TPM (/dev/tpm0, /dev/tpmrm0 or unix:/path/to/swtpm.sock)."
	case errors.Is(err, device.ErrTimeout) && strings.HasPrefix(dev, "unix:"):
		return "swtpm serves one connection at a time: is another client holding its socket?"
	case errors.Is(err, device.ErrTimeout) && strings.HasPrefix(dev, "unix:"):
		return "swtpm serves one connection at a time: is another client holding its socket?"
	case errors.Is(err, device.ErrTimeout):
		return "If dmesg shows \"genirq: Flags mismatch\" for tpm0, reload the driver without interrupts: " +
			"`rmmod tpm_tis; modprobe tpm_tis force=1 interrupts=0`."
	case errors.Is(err, ErrDisabled), errors.Is(err, ErrDeactivated):
		return "Enable and activate the TPM in the BIOS setup (often Security > TPM: Enabled, Activated), then " +
			"power-cycle. If the BIOS knows nothing of the TPM it has not locked physical presence, so the OS " +
			"can assert it by command and enable/activate the TPM, e.g. with tpm-tools `tpm_setenable --enable " +
			"--force` and `tpm_setactive --active` (see their man pages), then power-cycle."
	case errors.Is(err, ErrNotStarted):
		return "The BIOS normally sends TPM_Startup; if it does not handle the TPM, load the driver with " +
			"`modprobe tpm_tis force=1 interrupts=0`, which issues it. swtpm needs " +
			"`--flags not-need-init,startup-clear` (or swtpm_bios)."
	case errors.Is(err, ErrFailureMode):
		return "Power-cycle the machine (a real TPM failed its self test). swtpm needs its ctrl INIT " +
			"(`swtpm_ioctl -i`) or `--flags not-need-init`."
	case errors.Is(err, ErrNVLocked):
		return "Nothing to do: NV is locked, which is what TXT/SINIT want. TPM_NV_INDEX_LOCK cannot be undefined."
	}
	return ""
}
