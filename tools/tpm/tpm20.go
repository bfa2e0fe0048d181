package tpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/google/go-tpm/tpmutil"

	"github.com/xtbuild/xtbuild/tools/tpm/device"
)

// TPM20 talks to a TPM 2.0 chip.
//
// It frames its two commands with go-tpm's tpmutil and decodes the answers
// here. go-tpm's tpm2 package would do the same but drags in RSA, ECDH,
// ECDSA and AES (about 1 MiB) for sessions the tool never opens, and cmd/xt
// must stay within 4 MiB. The tests check this decoding against tpm2.
type TPM20 struct {
	tx device.Transmitter
}

// NewTPM20 returns a TPM 2.0 client over tx (see Detect).
func NewTPM20(tx device.Transmitter) *TPM20 { return &TPM20{tx: tx} }

// TPM 2.0 tags, command codes, capabilities and properties used here
// (TPM 2.0 Part 2, sections 6 and 7).
const (
	tagNoSessions tpmutil.Tag = 0x8001

	ccGetCapability tpmutil.Command = 0x17A
	ccNVReadPublic  tpmutil.Command = 0x169

	capHandles       = 0x1
	capTPMProperties = 0x6

	ptFamilyIndicator = 0x100
	ptLevel           = 0x101
	ptRevision        = 0x102
	ptDayOfYear       = 0x103
	ptYear            = 0x104
	ptManufacturer    = 0x105
	ptVendorString1   = 0x106
	ptVendorString4   = 0x109
	ptVendorTPMType   = 0x10A
	ptFirmware1       = 0x10B
	ptFirmware2       = 0x10C
	ptPermanent       = 0x200
	ptStartupClear    = 0x201

	htNVIndex = 0x01
)

func (t *TPM20) run(ctx context.Context, name string, cc tpmutil.Command, args ...any) ([]byte, error) {
	return runCommand(ctx, t.tx, Family20, tagNoSessions, name, cc, args...)
}

// getCapability runs TPM2_GetCapability and returns moreData and the
// list that follows the echoed capability (count u32, then the entries).
func (t *TPM20) getCapability(ctx context.Context, capability, property, count uint32) (bool, []byte, error) {
	name := fmt.Sprintf("TPM2_GetCapability(0x%x, 0x%x)", capability, property)
	body, err := t.run(ctx, name, ccGetCapability, capability, property, count)
	if err != nil {
		return false, nil, err
	}
	if len(body) < 1+4+4 {
		return false, nil, fmt.Errorf("%s: response of %d bytes is too short", name, len(body))
	}
	if got := binary.BigEndian.Uint32(body[1:]); got != capability {
		return false, nil, fmt.Errorf("%s: response is for capability 0x%x", name, got)
	}
	return body[0] != 0, body[5:], nil
}

// list decodes a TPML_* of n-byte entries: count u32, then the entries.
func list(b []byte, entry int, what string) ([][]byte, error) {
	n := int(binary.BigEndian.Uint32(b))
	if len(b)-4 != n*entry {
		return nil, fmt.Errorf("%s list announces %d entries in %d bytes", what, n, len(b)-4)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = b[4+i*entry : 4+(i+1)*entry]
	}
	return out, nil
}

// properties reads TPM properties first..last (inclusive), following
// moreData. Properties the TPM does not have are simply absent.
func (t *TPM20) properties(ctx context.Context, first, last uint32) (map[uint32]uint32, error) {
	out := map[uint32]uint32{}
	for next := first; next <= last; {
		more, raw, err := t.getCapability(ctx, capTPMProperties, next, last-next+1)
		if err != nil {
			return nil, err
		}
		// TPML_TAGGED_TPM_PROPERTY: {property u32, value u32}...
		entries, err := list(raw, 8, "TPM property")
		if err != nil {
			return nil, err
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			pt := binary.BigEndian.Uint32(e)
			if pt >= first && pt <= last {
				out[pt] = binary.BigEndian.Uint32(e[4:])
			}
			next = pt + 1
		}
		if !more {
			break
		}
	}
	return out, nil
}

// Version20 holds the TPM 2.0 equivalents of tpm_version's fields.
type Version20 struct {
	Family           string   `json:"family"` // TPM_PT_FAMILY_INDICATOR, "2.0"
	Level            uint32   `json:"level"`
	Revision         string   `json:"revision"` // TPM_PT_REVISION / 100, e.g. 1.64
	SpecDayOfYear    uint32   `json:"spec_day_of_year"`
	SpecYear         uint32   `json:"spec_year"`
	Manufacturer     HexBytes `json:"manufacturer"` // 4 bytes, e.g. 49464b00
	ManufacturerID   string   `json:"manufacturer_id"`
	VendorString     string   `json:"vendor_string"`
	VendorTPMType    uint32   `json:"vendor_tpm_type"`
	FirmwareVersion1 uint32   `json:"firmware_version_1"`
	FirmwareVersion2 uint32   `json:"firmware_version_2"`
	FirmwareVersion  string   `json:"firmware_version"` // v1>>16 . v1&0xffff . v2>>16 . v2&0xffff
	State20
}

// State20 is the TPMA_PERMANENT / TPMA_STARTUP_CLEAR part users care about.
type State20 struct {
	OwnerAuthSet       bool `json:"owner_auth_set"`
	EndorsementAuthSet bool `json:"endorsement_auth_set"`
	LockoutAuthSet     bool `json:"lockout_auth_set"`
	InLockout          bool `json:"in_lockout"`
	PlatformEnabled    bool `json:"platform_hierarchy_enabled"`
	StorageEnabled     bool `json:"storage_hierarchy_enabled"`
	EndorsementEnabled bool `json:"endorsement_hierarchy_enabled"`
}

// Version reads the fixed properties and hierarchy state.
func (t *TPM20) Version(ctx context.Context) (*Version20, error) {
	fixed, err := t.properties(ctx, ptFamilyIndicator, ptFirmware2)
	if err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	state, err := t.properties(ctx, ptPermanent, ptStartupClear)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	be := func(pt uint32) []byte { return binary.BigEndian.AppendUint32(nil, fixed[pt]) }
	v := &Version20{
		Family:           printable(be(ptFamilyIndicator)),
		Level:            fixed[ptLevel],
		Revision:         fmt.Sprintf("%d.%02d", fixed[ptRevision]/100, fixed[ptRevision]%100),
		SpecDayOfYear:    fixed[ptDayOfYear],
		SpecYear:         fixed[ptYear],
		Manufacturer:     be(ptManufacturer),
		ManufacturerID:   printable(be(ptManufacturer)),
		VendorTPMType:    fixed[ptVendorTPMType],
		FirmwareVersion1: fixed[ptFirmware1],
		FirmwareVersion2: fixed[ptFirmware2],
	}
	// The four vendor strings are 4 ASCII bytes each, NUL padded.
	var vs []byte
	for pt := uint32(ptVendorString1); pt <= ptVendorString4; pt++ {
		for _, c := range be(pt) {
			if c != 0 {
				vs = append(vs, c)
			}
		}
	}
	v.VendorString = string(vs)
	v.FirmwareVersion = fmt.Sprintf("%d.%d.%d.%d", v.FirmwareVersion1>>16, v.FirmwareVersion1&0xffff,
		v.FirmwareVersion2>>16, v.FirmwareVersion2&0xffff)
	perm, sc := state[ptPermanent], state[ptStartupClear]
	v.State20 = State20{
		OwnerAuthSet:       perm&(1<<0) != 0,
		EndorsementAuthSet: perm&(1<<1) != 0,
		LockoutAuthSet:     perm&(1<<2) != 0,
		InLockout:          perm&(1<<9) != 0,
		PlatformEnabled:    sc&(1<<0) != 0,
		StorageEnabled:     sc&(1<<1) != 0,
		EndorsementEnabled: sc&(1<<2) != 0,
	}
	return v, nil
}

// NVIndex20 is one index's TPMS_NV_PUBLIC plus its name.
type NVIndex20 struct {
	Index      uint32   `json:"-"`
	NameAlg    uint16   `json:"-"`
	Attributes uint32   `json:"-"`
	AuthPolicy HexBytes `json:"auth_policy"`
	Size       uint16   `json:"size"`
	Name       HexBytes `json:"name"`
}

// NVList returns the defined NV indices (TPM_CAP_HANDLES in the NV range).
func (t *TPM20) NVList(ctx context.Context) ([]uint32, error) {
	var out []uint32
	for next := uint32(htNVIndex) << 24; ; {
		more, raw, err := t.getCapability(ctx, capHandles, next, 64)
		if err != nil {
			return nil, err
		}
		entries, err := list(raw, 4, "handle")
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			h := binary.BigEndian.Uint32(e)
			if h>>24 != htNVIndex {
				return out, nil
			}
			out = append(out, h)
			next = h + 1
		}
		if !more || len(entries) == 0 {
			return out, nil
		}
	}
}

// NVIndex reads one index's public area with TPM2_NV_ReadPublic.
func (t *TPM20) NVIndex(ctx context.Context, index uint32) (*NVIndex20, error) {
	name := fmt.Sprintf("TPM2_NV_ReadPublic(0x%08x)", index)
	body, err := t.run(ctx, name, ccNVReadPublic, index)
	if err != nil {
		return nil, err
	}
	nv, err := parseNVReadPublic(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if nv.Index != index {
		return nil, fmt.Errorf("%s: TPM answered for index 0x%08x", name, nv.Index)
	}
	return nv, nil
}

// parseNVReadPublic decodes TPM2B_NV_PUBLIC (size u16; nvIndex u32,
// nameAlg u16, attributes u32, authPolicy TPM2B, dataSize u16) followed by
// TPM2B_NAME.
func parseNVReadPublic(b []byte) (*NVIndex20, error) {
	r := bytes.NewReader(b)
	pub, err := readTPM2B(r)
	if err != nil {
		return nil, fmt.Errorf("nvPublic: %w", err)
	}
	name, err := readTPM2B(r)
	if err != nil {
		return nil, fmt.Errorf("nvName: %w", err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d trailing bytes", r.Len())
	}
	pr := bytes.NewReader(pub)
	var head struct {
		Index      uint32
		NameAlg    uint16
		Attributes uint32
	}
	if err := binary.Read(pr, binary.BigEndian, &head); err != nil {
		return nil, fmt.Errorf("TPMS_NV_PUBLIC %x: %w", pub, err)
	}
	policy, err := readTPM2B(pr)
	if err != nil {
		return nil, fmt.Errorf("authPolicy: %w", err)
	}
	var size uint16
	if err := binary.Read(pr, binary.BigEndian, &size); err != nil {
		return nil, fmt.Errorf("TPMS_NV_PUBLIC dataSize: %w", err)
	}
	if pr.Len() != 0 {
		return nil, fmt.Errorf("TPMS_NV_PUBLIC has %d trailing bytes", pr.Len())
	}
	return &NVIndex20{Index: head.Index, NameAlg: head.NameAlg, Attributes: head.Attributes,
		AuthPolicy: policy, Size: size, Name: name}, nil
}

// readTPM2B reads a u16 size and that many bytes.
func readTPM2B(r *bytes.Reader) (HexBytes, error) {
	var n uint16
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	if int(n) > r.Len() {
		return nil, fmt.Errorf("size %d exceeds the %d bytes left", n, r.Len())
	}
	b := make(HexBytes, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// NVInfo reads every listed index.
func (t *TPM20) NVInfo(ctx context.Context) ([]NVIndex20, error) {
	list, err := t.NVList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list NV indices: %w", err)
	}
	out := make([]NVIndex20, 0, len(list))
	for _, idx := range list {
		nv, err := t.NVIndex(ctx, idx)
		if err != nil {
			return nil, err
		}
		out = append(out, *nv)
	}
	return out, nil
}
