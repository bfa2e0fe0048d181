package txt

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// PublicSpaceSize is the size of the TXT public configuration space
// (0xFED30000-0xFED3FFFF); a dump is at most this long.
const PublicSpaceSize = 0x10000

// CheckDump says whether raw is plausibly a copy of the TXT public
// configuration space (what `xt txt status --save` or a dd of
// /dev/mem at 0xFED30000 writes) before anything is decoded from it:
//
//   - its size is between the last register xt reads and the 64 KiB space;
//   - it is not text (a tboot log or txt-stat's printout);
//   - it is not all zeros (a read of unbacked memory or an empty file);
//   - unless it is all ones (a platform without TXT, decoded as such),
//     TXT.DIDVID names Intel (vendor 0x8086), and SINIT.BASE and
//     HEAP.BASE are 4 KiB-aligned addresses below 4 GiB.
func CheckDump(raw []byte) error {
	need := RegE2STS + 8
	switch {
	case len(raw) < need:
		return fmt.Errorf("not a TXT register dump: %d bytes, the public space needs at least 0x%x", len(raw), need)
	case len(raw) > PublicSpaceSize:
		return fmt.Errorf("not a TXT register dump: %d bytes, more than the 64 KiB public space (dump 0x%x bytes from 0x%X)", len(raw), PublicSpaceSize, PublicBase)
	}
	if looksText(raw) {
		return errors.New("not a TXT register dump: the file is text (for a tboot log or txt-stat output use `xt txt diagnose FILE`)")
	}
	if isAll(raw, 0) {
		return errors.New("not a TXT register dump: every byte is zero (memory read from the wrong address, or an empty copy)")
	}
	st, err := ParseStatus(raw)
	if err != nil {
		return err
	}
	if st.AllOnes {
		return nil // no TXT register space: Status reports it
	}
	if st.VendorID() != 0x8086 {
		return fmt.Errorf("not a TXT register dump: TXT.DIDVID 0x%016x has vendor 0x%04x, TXT is Intel's (0x8086)", st.DIDVID, st.VendorID())
	}
	for _, r := range []struct {
		name string
		v    uint64
	}{{"SINIT.BASE", st.SINITBase}, {"HEAP.BASE", st.HeapBase}} {
		if r.v&0xfff != 0 || r.v >= 1<<32 {
			return fmt.Errorf("not a plausible TXT register dump: %s 0x%x is not a 4 KiB-aligned address below 4 GiB", r.name, r.v)
		}
	}
	return nil
}

func isAll(b []byte, c byte) bool {
	return len(bytes.Trim(b, string([]byte{c}))) == 0
}

// looksText: valid UTF-8 with printable characters and line ends only.
func looksText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}
