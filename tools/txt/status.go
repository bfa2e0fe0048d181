package txt

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Public configuration space: physical base and the registers txt-stat
// shows. All registers are 64 bits wide.
const (
	PublicBase = 0xFED30000
	// StatusSize is how much of the space Status needs (one page covers
	// every register below).
	StatusSize = 0x1000

	RegSTS       = 0x000
	RegESTS      = 0x008
	RegErrorCode = 0x030
	RegVerFSBIF  = 0x100
	RegDIDVID    = 0x110
	RegVerQPIIF  = 0x200
	RegSINITBase = 0x270
	RegSINITSize = 0x278
	RegHeapBase  = 0x300
	RegHeapSize  = 0x308
	RegDPR       = 0x330
	RegPublicKey = 0x400
	RegE2STS     = 0x8F0
)

// Status is the decoded TXT public configuration space.
type Status struct {
	STS, ESTS, E2STS     uint64
	ErrorCode            uint64
	DIDVID               uint64
	FSBIF, QPIIF         uint64
	SINITBase, SINITSize uint64
	HeapBase, HeapSize   uint64
	DPR                  uint64
	PublicKey            [32]byte
	// AllOnes: every register read 0xFF…, what a disabled TXT looks like.
	AllOnes bool
}

// ReadStatus reads the registers from r, which holds the public space
// starting at offset 0 (/dev/mem wrapped by OpenDevMem, or a dump file).
func ReadStatus(r io.ReaderAt) (*Status, error) {
	buf := make([]byte, RegE2STS+8)
	n, err := r.ReadAt(buf, 0)
	if n < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read TXT config space (need 0x%x bytes, got 0x%x): %w", len(buf), n, err)
	}
	return ParseStatus(buf)
}

// ParseStatus decodes a raw little-endian copy of the public space.
func ParseStatus(b []byte) (*Status, error) {
	if len(b) < RegE2STS+8 {
		return nil, fmt.Errorf("parse TXT config space: %d bytes, need at least 0x%x", len(b), RegE2STS+8)
	}
	q := func(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	s := &Status{
		STS: q(RegSTS), ESTS: q(RegESTS), E2STS: q(RegE2STS), ErrorCode: q(RegErrorCode),
		DIDVID: q(RegDIDVID), FSBIF: q(RegVerFSBIF), QPIIF: q(RegVerQPIIF),
		SINITBase: q(RegSINITBase), SINITSize: q(RegSINITSize),
		HeapBase: q(RegHeapBase), HeapSize: q(RegHeapSize), DPR: q(RegDPR),
	}
	copy(s.PublicKey[:], b[RegPublicKey:RegPublicKey+32])
	s.AllOnes = s.STS == ^uint64(0) && s.DIDVID == ^uint64(0) && s.ErrorCode == ^uint64(0)
	return s, nil
}

// STS bits.
func (s *Status) SENTERDone() bool    { return s.STS&(1<<0) != 0 }
func (s *Status) SEXITDone() bool     { return s.STS&(1<<1) != 0 }
func (s *Status) MemConfigLock() bool { return s.STS&(1<<6) != 0 }
func (s *Status) PrivateOpen() bool   { return s.STS&(1<<7) != 0 }
func (s *Status) Locality1Open() bool { return s.STS&(1<<15) != 0 }
func (s *Status) Locality2Open() bool { return s.STS&(1<<16) != 0 }
func (s *Status) ResetSTS() bool      { return s.ESTS&1 != 0 }
func (s *Status) SecretsSet() bool    { return s.E2STS&(1<<1) != 0 }
func (s *Status) VendorID() uint16    { return uint16(s.DIDVID) }
func (s *Status) DeviceID() uint16    { return uint16(s.DIDVID >> 16) }
func (s *Status) RevisionID() uint16  { return uint16(s.DIDVID >> 32) }
func (s *Status) ExtendedID() uint16  { return uint16(s.DIDVID >> 48) }
func (s *Status) DPRLocked() bool     { return s.DPR&1 != 0 }
func (s *Status) DPRSizeMB() uint64   { return (s.DPR >> 4) & 0xff }
func (s *Status) DPRTop() uint64      { return s.DPR & 0xfff00000 }

// ProductionFused reads bit 31 of VER.FSBIF, or of VER.QPIIF (VER.EMIF on
// older parts) when FSBIF's low half reads all ones or all zeros, as tboot
// does.
func (s *Status) ProductionFused() bool {
	v := s.FSBIF
	if low := v & 0xffffffff; low == 0xffffffff || low == 0 {
		v = s.QPIIF
	}
	return v&(1<<31) != 0
}

// WriteText prints the status the way txt-stat lays it out.
func (s *Status) WriteText(w io.Writer) error {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "TXT public config space @ 0x%08x\n", PublicBase)
	if s.AllOnes {
		fmt.Fprintln(tw, "  every register reads all ones: TXT is disabled in the firmware setup or not present")
	}
	fmt.Fprintf(tw, "  STS:\t0x%016x\n", s.STS)
	for _, b := range []struct {
		name string
		on   bool
	}{
		{"senter_done", s.SENTERDone()}, {"sexit_done", s.SEXITDone()}, {"mem_config_lock", s.MemConfigLock()},
		{"private_open", s.PrivateOpen()}, {"locality_1_open", s.Locality1Open()}, {"locality_2_open", s.Locality2Open()},
	} {
		fmt.Fprintf(tw, "    %s:\t%s\n", b.name, tf(b.on))
	}
	fmt.Fprintf(tw, "  ESTS:\t0x%016x\n", s.ESTS)
	fmt.Fprintf(tw, "    txt_reset_sts:\t%s\n", tf(s.ResetSTS()))
	fmt.Fprintf(tw, "  E2STS:\t0x%016x\n", s.E2STS)
	fmt.Fprintf(tw, "    secrets_sts:\t%s\n", tf(s.SecretsSet()))
	fmt.Fprintf(tw, "  ERRORCODE:\t0x%016x\n", s.ErrorCode)
	fmt.Fprintf(tw, "  DIDVID:\t0x%016x\n", s.DIDVID)
	fmt.Fprintf(tw, "    vendor_id:\t0x%x\n    device_id:\t0x%x\n    revision_id:\t0x%x\n", s.VendorID(), s.DeviceID(), s.RevisionID())
	fmt.Fprintf(tw, "  FSBIF:\t0x%016x\n  QPIIF:\t0x%016x\n", s.FSBIF, s.QPIIF)
	fmt.Fprintf(tw, "    production_fused:\t%s\n", tf(s.ProductionFused()))
	fmt.Fprintf(tw, "  SINIT.BASE:\t0x%08x\n  SINIT.SIZE:\t%dB (0x%x)\n", s.SINITBase, s.SINITSize, s.SINITSize)
	fmt.Fprintf(tw, "  HEAP.BASE:\t0x%08x\n  HEAP.SIZE:\t%dB (0x%x)\n", s.HeapBase, s.HeapSize, s.HeapSize)
	fmt.Fprintf(tw, "  DPR:\t0x%016x\n", s.DPR)
	fmt.Fprintf(tw, "    lock:\t%s\n    top:\t0x%08x\n    size:\t%dMB (%dB)\n", tf(s.DPRLocked()), s.DPRTop(), s.DPRSizeMB(), s.DPRSizeMB()<<20)
	fmt.Fprintf(tw, "  PUBLIC.KEY:\t%s\n", hex.EncodeToString(s.PublicKey[:]))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write TXT status: %w", err)
	}
	sb.WriteString("\n")
	fmt.Fprintf(&sb, "TXT measured launch: %s\n", tf(s.SENTERDone()))
	fmt.Fprintf(&sb, "secrets flag set: %s\n", tf(s.SecretsSet()))
	if !s.AllOnes && s.ErrorCode != 0 {
		sb.WriteString("\n")
		if s.ErrorCode>>32 != 0 {
			fmt.Fprintf(&sb, "ERRORCODE upper half is nonzero (0x%x): not a TXT.ERRORCODE value\n", s.ErrorCode)
		} else {
			d, err := Decode(uint32(s.ErrorCode), "")
			if err != nil {
				return err
			}
			if err := d.WriteText(&sb); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func tf(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// MarshalJSON gives the raw registers and the named bits.
func (s *Status) MarshalJSON() ([]byte, error) {
	h := func(v uint64) string { return fmt.Sprintf("0x%016x", v) }
	m := map[string]any{
		"sts": h(s.STS), "ests": h(s.ESTS), "e2sts": h(s.E2STS), "errorcode": h(s.ErrorCode),
		"didvid": h(s.DIDVID), "ver_fsbif": h(s.FSBIF), "ver_qpiif": h(s.QPIIF),
		"sinit_base": h(s.SINITBase), "sinit_size": s.SINITSize,
		"heap_base": h(s.HeapBase), "heap_size": s.HeapSize, "dpr": h(s.DPR),
		"public_key":  hex.EncodeToString(s.PublicKey[:]),
		"senter_done": s.SENTERDone(), "sexit_done": s.SEXITDone(), "mem_config_lock": s.MemConfigLock(),
		"private_open": s.PrivateOpen(), "locality_1_open": s.Locality1Open(), "locality_2_open": s.Locality2Open(),
		"txt_reset_sts": s.ResetSTS(), "secrets_sts": s.SecretsSet(), "production_fused": s.ProductionFused(),
		"vendor_id": s.VendorID(), "device_id": s.DeviceID(), "revision_id": s.RevisionID(),
		"dpr_lock": s.DPRLocked(), "dpr_top": h(s.DPRTop()), "dpr_size_mb": s.DPRSizeMB(),
		"measured_launch": s.SENTERDone(), "txt_disabled": s.AllOnes,
	}
	if !s.AllOnes && s.ErrorCode != 0 && s.ErrorCode>>32 == 0 {
		d, err := Decode(uint32(s.ErrorCode), "")
		if err == nil {
			m["errorcode_decoded"] = d
		}
	}
	return json.Marshal(m)
}
