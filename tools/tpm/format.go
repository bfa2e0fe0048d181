package tpm

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// bitName names one attribute bit.
type bitName struct {
	bit  uint32
	name string
}

// perm12Names are the TPM_NV_PER_* bits (TPM Main Part 2, 19.2), highest
// first as tpm_nvinfo prints them. go-tpm's constants for bits >= 12 are
// wrong, hence this table.
var perm12Names = []bitName{
	{0x80000000, "READ_STCLEAR"}, {0x00040000, "AUTHREAD"}, {0x00020000, "OWNERREAD"},
	{0x00010000, "PPREAD"}, {0x00008000, "GLOBALLOCK"}, {0x00004000, "WRITE_STCLEAR"},
	{0x00002000, "WRITEDEFINE"}, {0x00001000, "WRITEALL"}, {0x00000004, "AUTHWRITE"},
	{0x00000002, "OWNERWRITE"}, {0x00000001, "PPWRITE"},
}

// attr20Names are the TPMA_NV bits (TPM 2.0 Part 2, 13.4) except the
// TPM_NT field in bits 7:4.
var attr20Names = []bitName{
	{1 << 31, "READ_STCLEAR"}, {1 << 30, "PLATFORMCREATE"}, {1 << 29, "WRITTEN"},
	{1 << 28, "READLOCKED"}, {1 << 27, "CLEAR_STCLEAR"}, {1 << 26, "ORDERLY"}, {1 << 25, "NO_DA"},
	{1 << 19, "POLICYREAD"}, {1 << 18, "AUTHREAD"}, {1 << 17, "OWNERREAD"}, {1 << 16, "PPREAD"},
	{1 << 15, "GLOBALLOCK"}, {1 << 14, "WRITE_STCLEAR"}, {1 << 13, "WRITEDEFINE"},
	{1 << 12, "WRITEALL"}, {1 << 11, "WRITELOCKED"}, {1 << 10, "POLICY_DELETE"},
	{1 << 3, "POLICYWRITE"}, {1 << 2, "AUTHWRITE"}, {1 << 1, "OWNERWRITE"}, {1 << 0, "PPWRITE"},
}

const nt20Mask = 0xF0

// nt20Names are the TPM_NT index types (bits 7:4 of TPMA_NV).
var nt20Names = map[uint32]string{0: "ORDINARY", 1: "COUNTER", 2: "BITS", 4: "EXTEND", 8: "PIN_FAIL", 9: "PIN_PASS"}

// bitNames lists the set bits of v by name; bits without a name come last
// as one hex value so that nothing is hidden.
func bitNames(v, ignore uint32, table []bitName) []string {
	names := []string{}
	rest := v &^ ignore
	for _, b := range table {
		if v&b.bit != 0 {
			names = append(names, b.name)
			rest &^= b.bit
		}
	}
	if rest != 0 {
		names = append(names, fmt.Sprintf("0x%x", rest))
	}
	return names
}

// PermissionNames are the TPM_NV_PER_* names of the index's permissions.
func (nv NVIndex12) PermissionNames() []string { return bitNames(nv.Permissions, 0, perm12Names) }

// MarshalJSON adds the hex index and named permissions.
func (nv NVIndex12) MarshalJSON() ([]byte, error) {
	type plain NVIndex12
	return json.Marshal(struct {
		Index           string   `json:"index"`
		Permissions     string   `json:"permissions"`
		PermissionNames []string `json:"permission_names"`
		plain
	}{fmt.Sprintf("0x%08x", nv.Index), fmt.Sprintf("0x%08x", nv.Permissions), nv.PermissionNames(), plain(nv)})
}

// AttributeNames are the TPMA_NV names of the index's attributes.
func (nv NVIndex20) AttributeNames() []string { return bitNames(nv.Attributes, nt20Mask, attr20Names) }

// Type is the TPM_NT name of the index.
func (nv NVIndex20) Type() string {
	nt := (nv.Attributes & nt20Mask) >> 4
	if n, ok := nt20Names[nt]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", nt)
}

// hashNames are the TPM_ALG_ID hash values an index's nameAlg can take.
var hashNames = map[uint16]string{0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512", 0x0012: "sm3_256"}

// NameAlgName is the hash name of the index's nameAlg.
func (nv NVIndex20) NameAlgName() string {
	if n, ok := hashNames[nv.NameAlg]; ok {
		return n
	}
	return fmt.Sprintf("0x%04x", nv.NameAlg)
}

// MarshalJSON adds the hex index, type, nameAlg and named attributes.
func (nv NVIndex20) MarshalJSON() ([]byte, error) {
	type plain NVIndex20
	return json.Marshal(struct {
		Index          string   `json:"index"`
		Type           string   `json:"type"`
		NameAlg        string   `json:"name_alg"`
		Attributes     string   `json:"attributes"`
		AttributeNames []string `json:"attribute_names"`
		plain
	}{fmt.Sprintf("0x%08x", nv.Index), nv.Type(), nv.NameAlgName(), fmt.Sprintf("0x%08x", nv.Attributes),
		nv.AttributeNames(), plain(nv)})
}

// errWriter remembers the first write error so printers can stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// groupHex prints bytes as hex in groups of four, like tpm_version's
// "Vendor Specific data: 0313000b 00".
func groupHex(b []byte) string {
	var parts []string
	for len(b) > 4 {
		parts = append(parts, fmt.Sprintf("%x", b[:4]))
		b = b[4:]
	}
	parts = append(parts, fmt.Sprintf("%x", b))
	return strings.Join(parts, " ")
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// WriteVersion12 prints v in tpm_version's layout, with the state appended.
func WriteVersion12(w io.Writer, v *Version12) error {
	e := &errWriter{w: w}
	e.printf("  TPM 1.2 Version Info:\n")
	e.printf("  Chip Version:        %s\n", v.ChipVersion)
	e.printf("  Spec Level:          %d\n", v.SpecLevel)
	e.printf("  Errata Revision:     %d\n", v.ErrataRevision)
	e.printf("  TPM Vendor ID:       %s\n", v.VendorID)
	if len(v.VendorSpecific) > 0 {
		e.printf("  Vendor Specific data: %s\n", groupHex(v.VendorSpecific))
	}
	e.printf("  TPM Version:         %s\n", v.TPMVersion)
	e.printf("  Manufacturer Info:   %s\n", v.Manufacturer)
	e.printf("  TPM State:           %s, %s, %s, %s\n",
		yesNo(v.Enabled, "enabled", "DISABLED"), yesNo(v.Activated, "activated", "DEACTIVATED"),
		yesNo(v.Owned, "owned", "no owner"), yesNo(v.NVLocked, "NV locked", "NV UNLOCKED"))
	return e.err
}

// WriteVersion20 prints v in the same layout as WriteVersion12.
func WriteVersion20(w io.Writer, v *Version20) error {
	e := &errWriter{w: w}
	e.printf("  TPM 2.0 Version Info:\n")
	e.printf("  Family:              %s\n", v.Family)
	e.printf("  Spec Level:          %d\n", v.Level)
	e.printf("  Spec Revision:       %s\n", v.Revision)
	e.printf("  Spec Date:           day %d of %d\n", v.SpecDayOfYear, v.SpecYear)
	e.printf("  TPM Vendor ID:       %s\n", v.ManufacturerID)
	e.printf("  Vendor String:       %s\n", v.VendorString)
	e.printf("  Vendor TPM Type:     %d\n", v.VendorTPMType)
	e.printf("  Firmware Version:    %s (%08x %08x)\n", v.FirmwareVersion, v.FirmwareVersion1, v.FirmwareVersion2)
	e.printf("  Manufacturer Info:   %s\n", v.Manufacturer)
	e.printf("  TPM State:           storage hierarchy %s, endorsement hierarchy %s, owner auth %s, %s\n",
		yesNo(v.StorageEnabled, "enabled", "DISABLED"), yesNo(v.EndorsementEnabled, "enabled", "DISABLED"),
		yesNo(v.OwnerAuthSet, "set", "not set"), yesNo(v.InLockout, "IN DA LOCKOUT", "not in lockout"))
	return e.err
}

func localities(l uint8) string {
	if l&0x1F == 0x1F {
		return "ALL"
	}
	return fmt.Sprintf("0x%02x", l)
}

func writePCRSelection(e *errWriter, label string, p PCRInfoShort) {
	e.printf("%s selection:\n", label)
	if pcrs := p.PCRs(); len(pcrs) > 0 {
		s := make([]string, len(pcrs))
		for i, n := range pcrs {
			s[i] = fmt.Sprint(n)
		}
		e.printf(" PCRs         : %s\n", strings.Join(s, ", "))
		e.printf(" Digest       : %s\n", p.Digest)
	}
	e.printf(" Localities   : %s\n", localities(p.Locality))
}

func upperBool(b bool) string { return yesNo(b, "TRUE", "FALSE") }

// WriteNVInfo12 prints the indices in tpm_nvinfo's layout, then the lock
// state, which the index list cannot show (0xFFFFFFFF is never listed).
func WriteNVInfo12(w io.Writer, list []NVIndex12, nvLocked bool) error {
	e := &errWriter{w: w}
	if len(list) == 0 {
		e.printf("No NVRAM areas are defined.\n\n")
	}
	for _, nv := range list {
		e.printf("NVRAM index   : 0x%08x (%d)\n", nv.Index, nv.Index)
		writePCRSelection(e, "PCR read ", nv.ReadPCRs)
		writePCRSelection(e, "PCR write", nv.WritePCRs)
		e.printf("Permissions   : 0x%08x (%s)\n", nv.Permissions, strings.Join(nv.PermissionNames(), "|"))
		e.printf("bReadSTClear  : %s\n", upperBool(nv.ReadSTClear))
		e.printf("bWriteSTClear : %s\n", upperBool(nv.WriteSTClear))
		e.printf("bWriteDefine  : %s\n", upperBool(nv.WriteDefine))
		e.printf("Size          : %d (0x%x)\n\n", nv.Size, nv.Size)
	}
	e.printf("NV locked     : %s (TPM_NV_INDEX_LOCK 0xffffffff is never listed; see `xt tpm nvlock check`)\n",
		upperBool(nvLocked))
	return e.err
}

// WriteNVInfo20 prints the indices in the same layout as WriteNVInfo12.
func WriteNVInfo20(w io.Writer, list []NVIndex20) error {
	e := &errWriter{w: w}
	if len(list) == 0 {
		e.printf("No NV indices are defined.\n")
	}
	for i, nv := range list {
		if i > 0 {
			e.printf("\n")
		}
		e.printf("NVRAM index   : 0x%08x (%d)\n", nv.Index, nv.Index)
		e.printf("Type          : %s\n", nv.Type())
		e.printf("Name alg      : %s\n", nv.NameAlgName())
		e.printf("Attributes    : 0x%08x (%s)\n", nv.Attributes, strings.Join(nv.AttributeNames(), "|"))
		if len(nv.AuthPolicy) > 0 {
			e.printf("Auth policy   : %s\n", nv.AuthPolicy)
		} else {
			e.printf("Auth policy   : (none)\n")
		}
		e.printf("Name          : %s\n", nv.Name)
		e.printf("Size          : %d (0x%x)\n", nv.Size, nv.Size)
	}
	return e.err
}
