package ds1077l

import (
	"errors"
	"testing"
)

// Known encodings from the datasheet's register tables (MSB first).
func TestRegisterVectors(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  func() ([2]byte, error)
		want [2]byte
	}{
		{"DIV factory (divide by 2)", func() ([2]byte, error) { return EncodeDiv(2) }, [2]byte{0x00, 0x00}},
		{"DIV 3", func() ([2]byte, error) { return EncodeDiv(3) }, [2]byte{0x00, 0x40}},
		{"DIV 100", func() ([2]byte, error) { return EncodeDiv(100) }, [2]byte{0x18, 0x80}},
		{"DIV 1025", func() ([2]byte, error) { return EncodeDiv(1025) }, [2]byte{0xFF, 0xC0}},
		{"MUX factory", DefaultMux.Bytes, [2]byte{0x18, 0x00}},
		{"MUX P0=1 P1=8 SEL0 EN0", Mux{SEL0: true, EN0: true, P0: 1, P1: 8}.Bytes, [2]byte{0x19, 0x80}},
		{"MUX P1=2 DIV1 (the seed's 33 MHz)", Mux{P0: 1, P1: 2, DIV1: true}.Bytes, [2]byte{0x00, 0xC0}},
		{"MUX P0=8", Mux{P0: 8, P1: 1}.Bytes, [2]byte{0x06, 0x00}},
		{"MUX PDN1", Mux{PDN1: true, P0: 1, P1: 1}.Bytes, [2]byte{0x40, 0x00}},
		{"MUX PDN0", Mux{PDN0: true, P0: 1, P1: 1}.Bytes, [2]byte{0x20, 0x00}},
		{"MUX P1=4 (1M1 only)", Mux{P0: 1, P1: 4}.Bytes, [2]byte{0x01, 0x00}},
	} {
		got, err := tc.got()
		if err != nil || got != tc.want {
			t.Errorf("%s: got % x, %v; want % x", tc.name, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		b    Bus
		want byte
	}{{Bus{Addr: 0x58}, 0x00}, {Bus{Addr: 0x5f, WC: true}, 0x0f}, {Bus{Addr: 0x5a}, 0x02}, {Bus{Addr: 0x58, WC: true}, 0x08}} {
		if got, err := tc.b.Byte(); err != nil || got != tc.want {
			t.Errorf("BUS %+v: got %#x, %v; want %#x", tc.b, got, err, tc.want)
		}
	}
}

func TestRegisterRoundTripAllValues(t *testing.T) {
	for d := MinDivisor; d <= MaxDivisor; d++ {
		b, err := EncodeDiv(d)
		if err != nil {
			t.Fatal(err)
		}
		if b[1]&0x3F != 0 {
			t.Fatalf("divisor %d: don't-care bits set: % x", d, b)
		}
		if got := DecodeDiv(b); got != d {
			t.Fatalf("divisor %d decodes as %d", d, got)
		}
	}
	ps := []int{1, 2, 4, 8}
	n := 0
	for bits := 0; bits < 32; bits++ {
		for _, p0 := range ps {
			for _, p1 := range ps {
				m := Mux{PDN1: bits&1 != 0, PDN0: bits&2 != 0, SEL0: bits&4 != 0, EN0: bits&8 != 0, DIV1: bits&16 != 0, P0: p0, P1: p1}
				b, err := m.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if b[0]&0x80 != 0 || b[1]&0x3F != 0 {
					t.Fatalf("%+v sets reserved/don't-care bits: % x", m, b)
				}
				if got := DecodeMux(b); got != m {
					t.Fatalf("%+v -> % x -> %+v", m, b, got)
				}
				n++
			}
		}
	}
	if n != 512 {
		t.Fatalf("covered %d MUX settings, want 512", n)
	}
	for a := BaseAddr; a <= MaxAddr; a++ {
		for _, wc := range []bool{false, true} {
			b := Bus{Addr: a, WC: wc}
			v, err := b.Byte()
			if err != nil || v&0xF0 != 0 || DecodeBus(v) != b {
				t.Fatalf("%+v -> %#x (%v) -> %+v", b, v, err, DecodeBus(v))
			}
		}
	}
}

func TestRegisterValidation(t *testing.T) {
	for _, s := range []State{
		{Bus: DefaultBus, Divisor: 1, Mux: DefaultMux},
		{Bus: DefaultBus, Divisor: 1026, Mux: DefaultMux},
		{Bus: Bus{Addr: 0x60}, Divisor: 2, Mux: DefaultMux},
		{Bus: Bus{Addr: 0x57}, Divisor: 2, Mux: DefaultMux},
		{Bus: DefaultBus, Divisor: 2, Mux: Mux{P0: 3, P1: 1}},
		{Bus: DefaultBus, Divisor: 2, Mux: Mux{P0: 1, P1: 16}},
		{Bus: DefaultBus, Divisor: 2, Mux: Mux{}},
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: Validate = %v, want ErrInvalid", s, err)
		}
	}
	if err := FactoryState.Validate(); err != nil {
		t.Errorf("factory state invalid: %v", err)
	}
}
