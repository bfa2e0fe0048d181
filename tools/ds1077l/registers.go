// Package ds1077l programs a Maxim DS1077L EconOscillator over Linux I2C:
// every field of its DIV, MUX and BUS registers, the WRITE E2 command, a
// frequency solver, and a command line that is a drop-in for flihp's
// ds1077l-ctrl tools (ds1077l-bus, -div, -mux, -writee2) with their bugs
// fixed.
package ds1077l

import (
	"errors"
	"fmt"
)

// Command bytes (datasheet "Command Set").
const (
	CmdDIV     byte = 0x01
	CmdMUX     byte = 0x02
	CmdBUS     byte = 0x0D
	CmdWriteE2 byte = 0x3F
)

// Address range: the control byte is 1011 A2 A1 A0, A2..A0 taken from BUS.
const (
	BaseAddr    uint8 = 0x58
	MaxAddr     uint8 = 0x5F
	DefaultAddr       = BaseAddr
)

// Divisor limits of the 10-bit N divider (divisor = N + 2).
const (
	MinDivisor = 2
	MaxDivisor = 1025
)

// ErrInvalid marks a value outside what the chip can hold.
var ErrInvalid = errors.New("invalid setting")

// Bits of MUX as the chip's MSB-first 16-bit word (first byte = bits 15..8).
const (
	muxPDN1  = 1 << 14
	muxPDN0  = 1 << 13
	muxSEL0  = 1 << 12
	muxEN0   = 1 << 11
	muxP0Pos = 9 // 0M1:0M0 at bits 10..9
	muxP1Pos = 7 // 1M1:1M0 at bits 8..7, straddling the byte boundary
	muxDIV1  = 1 << 6
	// MuxMask covers the defined bits; bit 15 is reserved (written 0),
	// bits 5..0 are don't care.
	MuxMask = 0x7FC0
	// DivMask covers N9..N0, left-aligned; bits 5..0 are don't care.
	DivMask = 0xFFC0
	busWC   = 0x08
	busA    = 0x07
	// BusMask covers WC and A2..A0; the upper nibble is reserved (0).
	BusMask = 0x0F
)

// Mux is the MUX register: prescalers, divider bypass and control-pin modes.
type Mux struct {
	PDN1 bool // CTRL1 acts as power-down instead of OUT1 output enable
	PDN0 bool // CTRL0 role for OUT0, with SEL0 and EN0 (datasheet Table 1)
	SEL0 bool
	EN0  bool
	P0   int  // prescaler for OUT0: 1, 2, 4 or 8
	P1   int  // prescaler feeding the N divider and OUT1: 1, 2, 4 or 8
	DIV1 bool // bypass the N divider: OUT1 = MCLK / P1
}

// DefaultMux is the factory MUX setting (bytes 0x18 0x00).
var DefaultMux = Mux{SEL0: true, EN0: true, P0: 1, P1: 1}

func prescalerCode(p int) (uint16, error) {
	switch p {
	case 1:
		return 0, nil
	case 2:
		return 1, nil
	case 4:
		return 2, nil
	case 8:
		return 3, nil
	}
	return 0, fmt.Errorf("prescaler %d: must be 1, 2, 4 or 8: %w", p, ErrInvalid)
}

// Word encodes m as the chip's MSB-first 16-bit value.
func (m Mux) Word() (uint16, error) {
	c0, err := prescalerCode(m.P0)
	if err != nil {
		return 0, fmt.Errorf("P0: %w", err)
	}
	c1, err := prescalerCode(m.P1)
	if err != nil {
		return 0, fmt.Errorf("P1: %w", err)
	}
	w := c0<<muxP0Pos | c1<<muxP1Pos
	for _, f := range []struct {
		on  bool
		bit uint16
	}{{m.PDN1, muxPDN1}, {m.PDN0, muxPDN0}, {m.SEL0, muxSEL0}, {m.EN0, muxEN0}, {m.DIV1, muxDIV1}} {
		if f.on {
			w |= f.bit
		}
	}
	return w, nil
}

// Bytes encodes m in wire order.
func (m Mux) Bytes() ([2]byte, error) {
	w, err := m.Word()
	return [2]byte{byte(w >> 8), byte(w)}, err
}

// DecodeMux reads the MUX register from its two wire bytes.
func DecodeMux(b [2]byte) Mux {
	w := uint16(b[0])<<8 | uint16(b[1])
	return Mux{
		PDN1: w&muxPDN1 != 0,
		PDN0: w&muxPDN0 != 0,
		SEL0: w&muxSEL0 != 0,
		EN0:  w&muxEN0 != 0,
		P0:   1 << (w >> muxP0Pos & 3),
		P1:   1 << (w >> muxP1Pos & 3),
		DIV1: w&muxDIV1 != 0,
	}
}

// EncodeDiv encodes a divisor (2..1025) as the DIV register's wire bytes:
// N = divisor - 2, left-aligned in 16 bits (N9..N2, then N1 N0 and six
// don't-care bits written as 0).
func EncodeDiv(divisor int) ([2]byte, error) {
	if divisor < MinDivisor || divisor > MaxDivisor {
		return [2]byte{}, fmt.Errorf("divider %d: must be %d..%d: %w", divisor, MinDivisor, MaxDivisor, ErrInvalid)
	}
	w := uint16(divisor-2) << 6
	return [2]byte{byte(w >> 8), byte(w)}, nil
}

// DecodeDiv returns the divisor held in the DIV register's wire bytes.
func DecodeDiv(b [2]byte) int {
	return int((uint16(b[0])<<8|uint16(b[1]))>>6) + 2
}

// Bus is the BUS register.
type Bus struct {
	Addr uint8 // 7-bit address the chip answers at, 0x58..0x5F
	WC   bool  // 1: registers are saved only by WRITE E2
}

// DefaultBus is the factory BUS setting (0x00).
var DefaultBus = Bus{Addr: BaseAddr}

// ValidAddr checks a 7-bit DS1077L address.
func ValidAddr(a uint8) error {
	if a < BaseAddr || a > MaxAddr {
		return fmt.Errorf("address 0x%02x: must be 0x58..0x5f: %w", a, ErrInvalid)
	}
	return nil
}

// Byte encodes b; the reserved upper nibble is 0.
func (b Bus) Byte() (byte, error) {
	if err := ValidAddr(b.Addr); err != nil {
		return 0, err
	}
	v := b.Addr & busA
	if b.WC {
		v |= busWC
	}
	return v, nil
}

// DecodeBus reads the BUS register byte.
func DecodeBus(v byte) Bus { return Bus{Addr: BaseAddr | v&busA, WC: v&busWC != 0} }

// State is the whole register set.
type State struct {
	Bus     Bus
	Divisor int
	Mux     Mux
}

// FactoryState is a DS1077L as shipped (the register defaults are the same
// for every grade).
var FactoryState = State{Bus: DefaultBus, Divisor: 2, Mux: DefaultMux}

// Validate checks every field, so that nothing is written unless the whole
// new state can be.
func (s State) Validate() error {
	var errs []error
	if _, err := s.Bus.Byte(); err != nil {
		errs = append(errs, fmt.Errorf("BUS: %w", err))
	}
	if _, err := EncodeDiv(s.Divisor); err != nil {
		errs = append(errs, fmt.Errorf("DIV: %w", err))
	}
	if _, err := s.Mux.Word(); err != nil {
		errs = append(errs, fmt.Errorf("MUX: %w", err))
	}
	return errors.Join(errs...)
}
