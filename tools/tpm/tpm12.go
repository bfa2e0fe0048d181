package tpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-tpm/tpmutil"

	"github.com/xtbuild/xtbuild/tools/tpm/device"
)

// TPM 1.2 talks to a TPM 1.2 chip.
//
// go-tpm's 1.2 package (github.com/google/go-tpm/tpm) is unmaintained and
// wrong in the places this tool needs: it decodes TPM_CAP_VERSION_VAL
// little-endian, has the NV permission bits from 0x1000 up wrong, silently
// skips NVDefineSpace without owner auth, and hides return codes. So every
// command is encoded with tpmutil.Pack (go-tpm), sent by runCommand, and every
// response is parsed here against the spec (TPM Main Part 2/3, rev 116).
type TPM12 struct {
	tx device.Transmitter
}

// NewTPM12 returns a TPM 1.2 client over tx (see Detect).
func NewTPM12(tx device.Transmitter) *TPM12 { return &TPM12{tx: tx} }

// TPM 1.2 tags and ordinals used here.
const (
	tagRQUCommand tpmutil.Tag = 0x00C1

	ordGetCapability tpmutil.Command = 0x65
	ordNVDefineSpace tpmutil.Command = 0xCC
)

// TPM_CAPABILITY_AREA values and subcaps used here.
const (
	capFlag       = 0x04
	capProperty   = 0x05
	capVersion    = 0x06 // TPM_CAP_VERSION: the 4-byte TPM_VERSION
	capNVList     = 0x0D
	capNVIndex    = 0x11
	capVersionVal = 0x1A // TPM_CAP_VERSION_VAL: TPM_CAP_VERSION_INFO

	subcapPropManufacturer = 0x103
	subcapPropOwner        = 0x111
	subcapFlagPermanent    = 0x108
	subcapFlagVolatile     = 0x109 // TPM_STCLEAR_FLAGS
)

// IndexLock is TPM_NV_INDEX_LOCK: defining it (size 0) sets nvLocked.
const IndexLock = 0xFFFFFFFF

// run sends one command and returns the response parameters.
func (t *TPM12) run(ctx context.Context, name string, ord tpmutil.Command, args ...any) ([]byte, error) {
	return runCommand(ctx, t.tx, Family12, tagRQUCommand, name, ord, args...)
}

// runCommand frames a command with go-tpm's tpmutil.Pack, sends it and
// returns the response parameters. A non-zero TPM return code is an error
// here (tpmutil.RunCommand returns a nil error for it). Codes that mean
// "not executed, ask again" (self test running, TPM 2.0 RETRY/TESTING/
// YIELDED) are retried a few times with a growing pause; tpmutil's own
// retry loop is not used because it ends in a bare EOF and caps the
// response at one 4 KiB read.
func runCommand(ctx context.Context, tx device.Transmitter, fam Family, tag tpmutil.Tag, name string,
	ord tpmutil.Command, args ...any) ([]byte, error) {
	body, err := tpmutil.Pack(args...)
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", name, err)
	}
	cmd, err := tpmutil.Pack(tag, uint32(device.HeaderSize+len(body)), ord)
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", name, err)
	}
	cmd = append(cmd, body...)
	pause := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		resp, err := tx.Transmit(ctx, cmd)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(resp) < device.HeaderSize {
			return nil, fmt.Errorf("%s: %w: %d-byte response", name, device.ErrNotTPM, len(resp))
		}
		rc := binary.BigEndian.Uint32(resp[6:])
		if rc == 0 {
			return resp[device.HeaderSize:], nil
		}
		rerr := &RCError{Family: fam, Command: name, Code: rc}
		if !rerr.notExecuted() || attempt == 5 {
			return nil, rerr
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", name, context.Cause(ctx))
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// capability runs TPM_GetCapability and returns the resp bytes.
func (t *TPM12) capability(ctx context.Context, area uint32, sub []byte) ([]byte, error) {
	name := fmt.Sprintf("TPM_GetCapability(0x%x)", area)
	if len(sub) > 0 {
		name = fmt.Sprintf("TPM_GetCapability(0x%x, %x)", area, sub)
	}
	// subCapSize u32, then subCap. U32Bytes adds the prefix; a plain []byte
	// would go out bare, whatever Pack's doc comment says.
	body, err := t.run(ctx, name, ordGetCapability, area, tpmutil.U32Bytes(sub))
	if err != nil {
		return nil, err
	}
	var resp tpmutil.U32Bytes
	if _, err := tpmutil.Unpack(body, &resp); err != nil {
		return nil, fmt.Errorf("%s: decode response %x: %w", name, body, err)
	}
	return resp, nil
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Version12 is what tpm_version prints, plus the TPM's enable/activate,
// owner and NV-lock state.
type Version12 struct {
	ChipVersion    string   `json:"chip_version"` // major.minor.revMajor.revMinor, e.g. 1.2.3.16
	SpecLevel      uint16   `json:"spec_level"`
	ErrataRevision uint8    `json:"errata_revision"`
	VendorID       string   `json:"vendor_id"` // printable part of the 4 bytes, e.g. IFX
	VendorSpecific HexBytes `json:"vendor_specific"`
	// VendorIDRaw is the 4 bytes as the TPM sent them (tpm_version prints
	// all four, NUL included).
	VendorIDRaw  HexBytes `json:"-"`
	TPMVersion   HexBytes `json:"tpm_version"`  // TPM_CAP_VERSION, 01010000 on 1.2 parts
	Manufacturer HexBytes `json:"manufacturer"` // TPM_CAP_PROP_MANUFACTURER, e.g. 49465800
	State12
}

// State12 is the part of the permanent and volatile flags users care about.
type State12 struct {
	Enabled     bool `json:"enabled"`   // !permanent.disable
	Activated   bool `json:"activated"` // !stclear.deactivated (and !permanent.deactivated)
	Owned       bool `json:"owned"`     // TPM_CAP_PROP_OWNER: an owner is installed
	NVLocked    bool `json:"nv_locked"`
	PPLifetime  bool `json:"physical_presence_lifetime_lock"`
	PPCMDEnable bool `json:"physical_presence_cmd_enable"`
}

// HexBytes marshals as a lower-case hex string.
type HexBytes []byte

func (h HexBytes) String() string { return fmt.Sprintf("%x", []byte(h)) }

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexBytes) UnmarshalText(b []byte) error {
	out := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(out, b); err != nil {
		return fmt.Errorf("decode hex: %w", err)
	}
	*h = out
	return nil
}

// Version reads the version information.
func (t *TPM12) Version(ctx context.Context) (*Version12, error) {
	raw, err := t.capability(ctx, capVersionVal, nil)
	if err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	v, err := parseCapVersionInfo(raw)
	if err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	if v.TPMVersion, err = t.capability(ctx, capVersion, nil); err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	if v.Manufacturer, err = t.capability(ctx, capProperty, u32(subcapPropManufacturer)); err != nil {
		return nil, fmt.Errorf("read manufacturer: %w", err)
	}
	st, err := t.State(ctx)
	if err != nil {
		return nil, err
	}
	v.State12 = *st
	return v, nil
}

// parseCapVersionInfo decodes TPM_CAP_VERSION_INFO (big-endian, unlike
// go-tpm's decoder): tag 0x0030, version[4], specLevel u16, errataRev u8,
// tpmVendorID[4], vendorSpecificSize u16, vendorSpecific.
func parseCapVersionInfo(b []byte) (*Version12, error) {
	const fixed = 2 + 4 + 2 + 1 + 4 + 2
	if len(b) < fixed {
		return nil, fmt.Errorf("TPM_CAP_VERSION_INFO is %d bytes, want at least %d", len(b), fixed)
	}
	if tag := binary.BigEndian.Uint16(b); tag != 0x0030 {
		return nil, fmt.Errorf("TPM_CAP_VERSION_INFO has tag 0x%04x, want 0x0030", tag)
	}
	v := &Version12{
		ChipVersion:    fmt.Sprintf("%d.%d.%d.%d", b[2], b[3], b[4], b[5]),
		SpecLevel:      binary.BigEndian.Uint16(b[6:]),
		ErrataRevision: b[8],
		VendorID:       printable(b[9:13]),
		VendorIDRaw:    append(HexBytes{}, b[9:13]...),
	}
	n := int(binary.BigEndian.Uint16(b[13:]))
	if len(b)-fixed != n {
		return nil, fmt.Errorf("TPM_CAP_VERSION_INFO announces %d vendor bytes but carries %d", n, len(b)-fixed)
	}
	v.VendorSpecific = append(HexBytes{}, b[fixed:]...)
	return v, nil
}

// printable keeps the ASCII letters and digits of a vendor ID ("IFX\0" → "IFX").
func printable(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c > 0x20 && c < 0x7f {
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// State reads the enable/activate/owner/NV-lock state.
func (t *TPM12) State(ctx context.Context) (*State12, error) {
	perm, err := t.capability(ctx, capFlag, u32(subcapFlagPermanent))
	if err != nil {
		return nil, fmt.Errorf("read permanent flags: %w", err)
	}
	pf, err := parsePermanentFlags(perm)
	if err != nil {
		return nil, fmt.Errorf("read permanent flags: %w", err)
	}
	vol, err := t.capability(ctx, capFlag, u32(subcapFlagVolatile))
	if err != nil {
		return nil, fmt.Errorf("read volatile flags: %w", err)
	}
	// TPM_STCLEAR_FLAGS: tag 0x0020, deactivated, disableForceClear,
	// physicalPresence, physicalPresenceLock, bGlobalLock.
	if len(vol) < 3 || binary.BigEndian.Uint16(vol) != 0x0020 {
		return nil, fmt.Errorf("read volatile flags: unexpected TPM_STCLEAR_FLAGS %x", vol)
	}
	owner, err := t.capability(ctx, capProperty, u32(subcapPropOwner))
	if err != nil {
		return nil, fmt.Errorf("read owner property: %w", err)
	}
	if len(owner) != 1 {
		return nil, fmt.Errorf("read owner property: got %x, want one byte", owner)
	}
	return &State12{
		Enabled:     !pf.disable,
		Activated:   !pf.deactivated && vol[2] == 0,
		Owned:       owner[0] != 0,
		NVLocked:    pf.nvLocked,
		PPLifetime:  pf.ppLifetimeLock,
		PPCMDEnable: pf.ppCMDEnable,
	}, nil
}

// permanentFlags holds the TPM_PERMANENT_FLAGS fields the tool reads.
type permanentFlags struct {
	disable, deactivated, ppLifetimeLock, ppCMDEnable, nvLocked bool
}

// parsePermanentFlags decodes TPM_PERMANENT_FLAGS: tag 0x001F and then one
// byte per flag in spec order (disable, ownership, deactivated, readPubek,
// disableOwnerClear, allowMaintenance, physicalPresenceLifetimeLock,
// physicalPresenceHWEnable, physicalPresenceCMDEnable, CEKPUsed, TPMpost,
// TPMpostLock, FIPS, operator, enableRevokeEK, nvLocked, ...).
func parsePermanentFlags(b []byte) (permanentFlags, error) {
	if len(b) < 2+16 || binary.BigEndian.Uint16(b) != 0x001F {
		return permanentFlags{}, fmt.Errorf("unexpected TPM_PERMANENT_FLAGS %x", b)
	}
	f := b[2:]
	return permanentFlags{
		disable:        f[0] != 0,
		deactivated:    f[2] != 0,
		ppLifetimeLock: f[6] != 0,
		ppCMDEnable:    f[8] != 0,
		nvLocked:       f[15] != 0,
	}, nil
}

// NVIndex12 is TPM_NV_DATA_PUBLIC, what tpm_nvinfo shows per index.
type NVIndex12 struct {
	Index        uint32       `json:"-"`
	ReadPCRs     PCRInfoShort `json:"pcr_read"`
	WritePCRs    PCRInfoShort `json:"pcr_write"`
	Permissions  uint32       `json:"-"`
	ReadSTClear  bool         `json:"read_stclear"`
	WriteSTClear bool         `json:"write_stclear"`
	WriteDefine  bool         `json:"write_define"`
	Size         uint32       `json:"size"`
}

// PCRInfoShort is TPM_PCR_INFO_SHORT.
type PCRInfoShort struct {
	Select   HexBytes `json:"select"` // pcrSelect bitmap, PCR n is bit n%8 of byte n/8
	Locality uint8    `json:"locality_at_release"`
	Digest   HexBytes `json:"digest_at_release"`
}

// PCRs lists the selected PCR numbers.
func (p PCRInfoShort) PCRs() []int {
	var out []int
	for i, b := range p.Select {
		for bit := range 8 {
			if b&(1<<bit) != 0 {
				out = append(out, i*8+bit)
			}
		}
	}
	return out
}

// NVList returns the defined NV indices (TPM_CAP_NV_LIST). The TPM never
// lists TPM_NV_INDEX_LOCK even once defined; read State().NVLocked for that.
func (t *TPM12) NVList(ctx context.Context) ([]uint32, error) {
	raw, err := t.capability(ctx, capNVList, nil)
	if err != nil {
		return nil, fmt.Errorf("list NV indices: %w", err)
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("list NV indices: %d bytes is not a list of u32", len(raw))
	}
	out := make([]uint32, len(raw)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(raw[4*i:])
	}
	return out, nil
}

// NVIndex reads one index's public data (TPM_CAP_NV_INDEX).
func (t *TPM12) NVIndex(ctx context.Context, index uint32) (*NVIndex12, error) {
	raw, err := t.capability(ctx, capNVIndex, u32(index))
	if err != nil {
		return nil, fmt.Errorf("read NV index 0x%08x: %w", index, err)
	}
	nv, err := parseNVDataPublic(raw)
	if err != nil {
		return nil, fmt.Errorf("read NV index 0x%08x: %w", index, err)
	}
	return nv, nil
}

// NVInfo reads every listed index.
func (t *TPM12) NVInfo(ctx context.Context) ([]NVIndex12, error) {
	list, err := t.NVList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NVIndex12, 0, len(list))
	for _, idx := range list {
		nv, err := t.NVIndex(ctx, idx)
		if err != nil {
			return nil, err
		}
		out = append(out, *nv)
	}
	return out, nil
}

// parseNVDataPublic decodes TPM_NV_DATA_PUBLIC: tag 0x0018, nvIndex,
// pcrInfoRead, pcrInfoWrite, TPM_NV_ATTRIBUTES (tag 0x0017, u32),
// bReadSTClear, bWriteSTClear, bWriteDefine, dataSize.
func parseNVDataPublic(b []byte) (*NVIndex12, error) {
	r := bytes.NewReader(b)
	var hdr struct {
		Tag   uint16
		Index uint32
	}
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("TPM_NV_DATA_PUBLIC %x: %w", b, err)
	}
	if hdr.Tag != 0x0018 {
		return nil, fmt.Errorf("TPM_NV_DATA_PUBLIC has tag 0x%04x, want 0x0018", hdr.Tag)
	}
	nv := &NVIndex12{Index: hdr.Index}
	var err error
	if nv.ReadPCRs, err = readPCRInfoShort(r); err != nil {
		return nil, fmt.Errorf("TPM_NV_DATA_PUBLIC pcrInfoRead: %w", err)
	}
	if nv.WritePCRs, err = readPCRInfoShort(r); err != nil {
		return nil, fmt.Errorf("TPM_NV_DATA_PUBLIC pcrInfoWrite: %w", err)
	}
	var tail struct {
		AttrTag                                uint16
		Attributes                             uint32
		ReadSTClear, WriteSTClear, WriteDefine uint8
		Size                                   uint32
	}
	if err := binary.Read(r, binary.BigEndian, &tail); err != nil {
		return nil, fmt.Errorf("TPM_NV_DATA_PUBLIC %x: %w", b, err)
	}
	if tail.AttrTag != 0x0017 {
		return nil, fmt.Errorf("TPM_NV_ATTRIBUTES has tag 0x%04x, want 0x0017", tail.AttrTag)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("TPM_NV_DATA_PUBLIC has %d trailing bytes", r.Len())
	}
	nv.Permissions = tail.Attributes
	nv.ReadSTClear, nv.WriteSTClear, nv.WriteDefine = tail.ReadSTClear != 0, tail.WriteSTClear != 0, tail.WriteDefine != 0
	nv.Size = tail.Size
	return nv, nil
}

func readPCRInfoShort(r *bytes.Reader) (PCRInfoShort, error) {
	var n uint16
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return PCRInfoShort{}, err
	}
	if int(n) > r.Len() {
		return PCRInfoShort{}, fmt.Errorf("sizeOfSelect %d exceeds the data", n)
	}
	p := PCRInfoShort{Select: make(HexBytes, n), Digest: make(HexBytes, 20)}
	if _, err := io.ReadFull(r, p.Select); err != nil {
		return p, err
	}
	if err := binary.Read(r, binary.BigEndian, &p.Locality); err != nil {
		return p, err
	}
	if _, err := io.ReadFull(r, p.Digest); err != nil {
		return p, err
	}
	return p, nil
}

// encode writes TPM_NV_DATA_PUBLIC in wire form.
func (nv *NVIndex12) encode() []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, 0x0018)
	b = binary.BigEndian.AppendUint32(b, nv.Index)
	for _, p := range []PCRInfoShort{nv.ReadPCRs, nv.WritePCRs} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Select)))
		b = append(b, p.Select...)
		b = append(b, p.Locality)
		d := make([]byte, 20)
		copy(d, p.Digest)
		b = append(b, d...)
	}
	b = binary.BigEndian.AppendUint16(b, 0x0017)
	b = binary.BigEndian.AppendUint32(b, nv.Permissions)
	for _, f := range []bool{nv.ReadSTClear, nv.WriteSTClear, nv.WriteDefine} {
		if f {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return binary.BigEndian.AppendUint32(b, nv.Size)
}

// NoPCRs is the PCR info of an index bound to no PCR and any locality,
// as TPM_NV_DefineSpace wants it (3-byte empty selection, all localities).
func NoPCRs() PCRInfoShort {
	return PCRInfoShort{Select: make(HexBytes, 3), Locality: 0x1F, Digest: make(HexBytes, 20)}
}

// defineSpaceUnauth sends TPM_NV_DefineSpace without authorisation (tag
// RQU_COMMAND, zero encAuth). A TPM accepts that only while nvLocked is
// FALSE (or with physical presence); go-tpm's NVDefineSpace cannot send it.
func (t *TPM12) defineSpaceUnauth(ctx context.Context, nv *NVIndex12) error {
	var encAuth [20]byte
	_, err := t.run(ctx, fmt.Sprintf("TPM_NV_DefineSpace(0x%08x)", nv.Index), ordNVDefineSpace,
		tpmutil.RawBytes(nv.encode()), tpmutil.RawBytes(encAuth[:]))
	return err
}

// NVLockResult reports what LockNV did.
type NVLockResult struct {
	WasLocked bool `json:"was_locked"`
	NVLocked  bool `json:"nv_locked"` // read back after the define
}

// LockNV defines TPM_NV_INDEX_LOCK (0xFFFFFFFF, size 0), which sets the
// permanent flag nvLocked, and reads the flag back to confirm. It refuses
// (ErrNVLocked) when NV is locked already. A disabled or deactivated TPM
// still accepts this define (libtpms does, as the spec allows NV definition
// there), so that is left to the TPM to judge. The define is one TPM
// command: it either happens or not.
func (t *TPM12) LockNV(ctx context.Context) (*NVLockResult, error) {
	st, err := t.State(ctx)
	if err != nil {
		return nil, err
	}
	if st.NVLocked {
		return &NVLockResult{WasLocked: true, NVLocked: true}, fmt.Errorf("lock NV: %w", ErrNVLocked)
	}
	lock := &NVIndex12{Index: IndexLock, ReadPCRs: NoPCRs(), WritePCRs: NoPCRs(), Size: 0}
	// Once sent, wait for the answer even if the caller gives up, so that
	// the outcome is known and the device is left in step.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), device.DefaultTimeout)
	defer cancel()
	if err := t.defineSpaceUnauth(sendCtx, lock); err != nil {
		return nil, fmt.Errorf("lock NV: %w", err)
	}
	after, err := t.State(sendCtx)
	if err != nil {
		return nil, fmt.Errorf("lock NV: confirm: %w", err)
	}
	res := &NVLockResult{NVLocked: after.NVLocked}
	if !after.NVLocked {
		return res, errors.New("lock NV: the TPM accepted TPM_NV_DefineSpace(0xffffffff) but nvLocked still reads FALSE")
	}
	return res, nil
}
