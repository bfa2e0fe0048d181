package ds1077lsim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/tools/ds1077l/i2c"
)

// The model on its own, against the datasheet rules, with raw transactions.
func TestModelPowerOnDefaultsPerGrade(t *testing.T) {
	for grade, mclk := range map[int]float64{40: 40e6, 50: 50e6, 60: 60e6, 66: 66.666e6} {
		m, err := New(grade)
		if err != nil {
			t.Fatal(err)
		}
		if m.Registers() != FactoryDefaults() || m.EEPROM() != FactoryDefaults() || m.Address() != 0x58 {
			t.Errorf("-%d: registers %+v", grade, m.Registers())
		}
		// Factory: P0 = P1 = 1, DIV1 = 0, N = 0 (divide by 2).
		if m.Out0() != mclk || m.Out1() != mclk/2 {
			t.Errorf("-%d: OUT0 %v OUT1 %v", grade, m.Out0(), m.Out1())
		}
	}
	if _, err := New(33); err == nil {
		t.Error("grade -33 accepted (there is none)")
	}
}

func TestModelProtocol(t *testing.T) {
	ctx := context.Background()
	clock := NewFakeClock()
	m, _ := New(66, WithClock(clock))
	rd := func(cmd byte, n int) ([]byte, error) {
		r := make([]byte, n)
		return r, m.Tx(ctx, 0x58, []byte{cmd}, r)
	}
	// Wrong address: no acknowledge.
	if err := m.Tx(ctx, 0x59, []byte{0x0D}, make([]byte, 1)); !errors.Is(err, i2c.ErrNoAck) {
		t.Fatalf("0x59: %v", err)
	}
	// MSB-only write of a two-byte register keeps the LSB.
	if err := m.Tx(ctx, 0x58, []byte{0x01, 0xFF, 0xC0}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Sleep(ctx, DefaultWriteTime)
	if err := m.Tx(ctx, 0x58, []byte{0x01, 0x00}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Sleep(ctx, DefaultWriteTime)
	if r, _ := rd(0x01, 2); r[0] != 0x00 || r[1] != 0xC0 {
		t.Fatalf("DIV after MSB-only write: % x", r)
	}
	// Don't-care and reserved bits read back as 0.
	if err := m.Tx(ctx, 0x58, []byte{0x02, 0xFF, 0xFF}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Sleep(ctx, DefaultWriteTime)
	if r, _ := rd(0x02, 2); r[0] != 0x7F || r[1] != 0xC0 {
		t.Fatalf("MUX: % x", r)
	}
	// Refused: reserved BUS bits, unknown command, WRITE E2 with data, too long.
	for _, w := range [][]byte{{0x0D, 0x10}, {0x07, 0x00}, {0x3F, 0x00}, {0x01, 1, 2, 3}, {0x0D, 1, 2}} {
		if err := m.Tx(ctx, 0x58, w, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("% x: %v, want refused", w, err)
		}
	}
	// Quick is acknowledged and changes nothing; EEPROM writes counted.
	saves := m.EEPROMWrites()
	if err := m.Tx(ctx, 0x58, nil, nil); err != nil || m.EEPROMWrites() != saves {
		t.Fatalf("quick: %v", err)
	}
	// The seed's broken WRITE E2 was a Quick: with WC=1 it saves nothing.
	if err := m.Tx(ctx, 0x58, []byte{0x0D, 0x08}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Sleep(ctx, DefaultWriteTime)
	if err := m.Tx(ctx, 0x58, []byte{0x01, 0x12, 0x40}, nil); err != nil {
		t.Fatal(err)
	}
	m.Tx(ctx, 0x58, nil, nil) // SMBus Quick: only the address goes out
	m.PowerCycle()
	if r, _ := rd(0x01, 2); r[0] != 0x00 || r[1] != 0xC0 {
		t.Fatalf("a Quick saved the EEPROM: DIV % x", r)
	}
	// The fixed one: Send Byte 0x3F.
	if err := m.Tx(ctx, 0x58, []byte{0x01, 0x12, 0x40}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Tx(ctx, 0x58, []byte{0x3F}, nil); err != nil {
		t.Fatal(err)
	}
	if !m.Busy() {
		t.Fatal("not busy after WRITE E2")
	}
	if _, err := rd(0x01, 2); !errors.Is(err, ErrBusy) {
		t.Fatalf("read while busy: %v", err)
	}
	clock.Sleep(ctx, DefaultWriteTime)
	m.PowerCycle()
	if r, _ := rd(0x01, 2); r[0] != 0x12 || r[1] != 0x40 {
		t.Fatalf("WRITE E2 did not persist: DIV % x", r)
	}
	// A BUS write moves the chip at once.
	if err := m.Tx(ctx, 0x58, []byte{0x0D, 0x0F}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Sleep(ctx, time.Second)
	if err := m.Tx(ctx, 0x58, []byte{0x0D}, make([]byte, 1)); !errors.Is(err, i2c.ErrNoAck) {
		t.Fatalf("old address still answers: %v", err)
	}
	if err := m.Tx(ctx, 0x5f, []byte{0x0D}, make([]byte, 1)); err != nil {
		t.Fatalf("new address: %v", err)
	}
}

func TestRecorder(t *testing.T) {
	m, _ := New(66, WithWriteTime(0))
	r := NewRecorder(m)
	ctx := context.Background()
	buf := make([]byte, 2)
	r.Tx(ctx, 0x58, []byte{0x02}, buf)
	r.Tx(ctx, 0x58, []byte{0x3F}, nil)
	r.Tx(ctx, 0x5c, []byte{0x3F}, nil)
	txs := r.Txs()
	want := []string{"START 0xB0 0x02 RESTART 0xB1 [0x18 0x00] STOP", "START 0xB0 0x3F STOP", "START 0xB8 0x3F STOP NAK"}
	for i, w := range want {
		if txs[i].Wire() != w {
			t.Errorf("tx %d: %q want %q", i, txs[i].Wire(), w)
		}
	}
	if ws := r.Writes(); len(ws) != 1 || ws[0].Write[0] != 0x3F {
		t.Errorf("writes %+v", ws)
	}
}
