package ds1077l

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/tools/ds1077l/ds1077lsim"
	"github.com/xtbuild/xtbuild/tools/ds1077l/i2c"
)

// rig is a Device talking through a recorder to the datasheet model, with
// a fake clock shared by both.
type rig struct {
	model *ds1077lsim.Model
	rec   *ds1077lsim.Recorder
	clock *ds1077lsim.FakeClock
	dev   *Device
}

func newRig(t *testing.T, opts ...ds1077lsim.Option) *rig {
	t.Helper()
	clock := ds1077lsim.NewFakeClock()
	m, err := ds1077lsim.New(66, append([]ds1077lsim.Option{ds1077lsim.WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	rec := ds1077lsim.NewRecorder(m)
	return &rig{model: m, rec: rec, clock: clock, dev: New(rec, DefaultAddr, WithSleep(clock.Sleep))}
}

func wires(txs []ds1077lsim.Tx) []string {
	var out []string
	for _, t := range txs {
		out = append(out, t.Wire())
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestModelDeviceFactoryRead(t *testing.T) {
	r := newRig(t)
	st, err := r.dev.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st != FactoryState {
		t.Fatalf("factory state read as %+v, want %+v", st, FactoryState)
	}
	want := []string{
		"START 0xB0 0x0D RESTART 0xB1 [0x00] STOP",
		"START 0xB0 0x01 RESTART 0xB1 [0x00 0x00] STOP",
		"START 0xB0 0x02 RESTART 0xB1 [0x18 0x00] STOP",
	}
	if got := wires(r.rec.Txs()); !equalStrings(got, want) {
		t.Fatalf("wire:\n%q\nwant\n%q", got, want)
	}
}

// Every register, every value class: write through the Device, check the raw
// bytes the model holds (computed here from the datasheet layout), read back.
func TestModelDeviceRegisterRoundTrip(t *testing.T) {
	ctx := context.Background()
	t.Run("DIV", func(t *testing.T) {
		r := newRig(t)
		for d := MinDivisor; d <= MaxDivisor; d++ {
			if err := r.dev.WriteDiv(ctx, d); err != nil {
				t.Fatalf("divisor %d: %v", d, err)
			}
			n := d - 2
			want := [2]byte{byte(n >> 2), byte(n&3) << 6}
			if got := r.model.Registers().DIV; got != want {
				t.Fatalf("divisor %d: chip holds % x, want % x", d, got, want)
			}
			if got, err := r.dev.ReadDiv(ctx); err != nil || got != d {
				t.Fatalf("divisor %d read back as %d, %v", d, got, err)
			}
		}
	})
	t.Run("MUX", func(t *testing.T) {
		r := newRig(t)
		code := map[int]int{1: 0, 2: 1, 4: 2, 8: 3}
		for bits := 0; bits < 32; bits++ {
			for _, p0 := range []int{1, 2, 4, 8} {
				for _, p1 := range []int{1, 2, 4, 8} {
					m := Mux{PDN1: bits&1 != 0, PDN0: bits&2 != 0, SEL0: bits&4 != 0, EN0: bits&8 != 0, DIV1: bits&16 != 0, P0: p0, P1: p1}
					if err := r.dev.WriteMux(ctx, m); err != nil {
						t.Fatalf("%+v: %v", m, err)
					}
					// First byte: - PDN1 PDN0 SEL0 EN0 0M1 0M0 1M1; second: 1M0 DIV1 X..X.
					b0 := bits&1<<6 | bits>>1&1<<5 | bits>>2&1<<4 | bits>>3&1<<3 | code[p0]<<1 | code[p1]>>1
					b1 := (code[p1]&1)<<7 | bits>>4&1<<6
					want := [2]byte{byte(b0), byte(b1)}
					if got := r.model.Registers().MUX; got != want {
						t.Fatalf("%+v: chip holds % x, want % x", m, got, want)
					}
					if got, err := r.dev.ReadMux(ctx); err != nil || got != m {
						t.Fatalf("%+v read back as %+v, %v", m, got, err)
					}
				}
			}
		}
	})
	t.Run("BUS", func(t *testing.T) {
		r := newRig(t)
		for a := BaseAddr; a <= MaxAddr; a++ {
			for _, wc := range []bool{true, false} {
				b := Bus{Addr: a, WC: wc}
				if err := r.dev.WriteBus(ctx, b); err != nil {
					t.Fatalf("%+v: %v", b, err)
				}
				want := a - 0x58
				if wc {
					want |= 0x08
				}
				if got := r.model.Registers().BUS; got != want {
					t.Fatalf("%+v: chip holds %#x, want %#x", b, got, want)
				}
				if r.model.Address() != a || r.dev.Addr() != a {
					t.Fatalf("%+v: chip at %#x, device talks to %#x", b, r.model.Address(), r.dev.Addr())
				}
				if got, err := r.dev.ReadBus(ctx); err != nil || got != b {
					t.Fatalf("%+v read back as %+v, %v", b, got, err)
				}
			}
		}
	})
}

func TestModelDeviceWireBytesOfEveryCommand(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		op   func(*Device) error
		want string
	}{
		{"DIV 100", func(d *Device) error { return d.WriteDiv(ctx, 100) }, "START 0xB0 0x01 0x18 0x80 STOP"},
		{"DIV 1025", func(d *Device) error { return d.WriteDiv(ctx, 1025) }, "START 0xB0 0x01 0xFF 0xC0 STOP"},
		{"MUX P1=8", func(d *Device) error { return d.WriteMux(ctx, Mux{SEL0: true, EN0: true, P0: 1, P1: 8}) }, "START 0xB0 0x02 0x19 0x80 STOP"},
		{"BUS WC=1", func(d *Device) error { return d.WriteBus(ctx, Bus{Addr: 0x58, WC: true}) }, "START 0xB0 0x0D 0x08 STOP"},
		{"BUS new address", func(d *Device) error { return d.WriteBus(ctx, Bus{Addr: 0x5b}) }, "START 0xB0 0x0D 0x03 STOP"},
		{"WRITE E2", func(d *Device) error { return d.Save(ctx) }, "START 0xB0 0x3F STOP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if err := tc.op(r.dev); err != nil {
				t.Fatal(err)
			}
			ws := r.rec.Writes()
			if len(ws) != 1 || ws[0].Wire() != tc.want {
				t.Fatalf("writes %q, want [%q]", wires(ws), tc.want)
			}
		})
	}
}

// The seed's complaint: WRITE E2 must be a standalone command byte. The
// recorder sees exactly START, 0xB0, 0x3F, STOP, and it saves with WC=1.
func TestModelWriteE2PersistsWithWC1AndIsLostWithout(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	if err := r.dev.WriteBus(ctx, Bus{Addr: 0x58, WC: true}); err != nil {
		t.Fatal(err)
	}
	// Without WRITE E2 the change is live but lost at power-off.
	if err := r.dev.WriteDiv(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.dev.ReadDiv(ctx); got != 100 {
		t.Fatalf("live divisor %d, want 100", got)
	}
	r.model.PowerCycle()
	if got, _ := r.dev.ReadDiv(ctx); got != 2 {
		t.Fatalf("after power cycle without WRITE E2: divisor %d, want 2 (lost)", got)
	}
	// With WRITE E2 it survives.
	if err := r.dev.WriteDiv(ctx, 100); err != nil {
		t.Fatal(err)
	}
	r.rec.Reset()
	if err := r.dev.Save(ctx); err != nil {
		t.Fatal(err)
	}
	if ws := r.rec.Writes(); len(ws) != 1 || ws[0].Wire() != "START 0xB0 0x3F STOP" {
		t.Fatalf("WRITE E2 on the wire: %q", wires(ws))
	}
	r.model.PowerCycle()
	st, err := r.dev.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Divisor != 100 || !st.Bus.WC {
		t.Fatalf("after WRITE E2 and power cycle: %+v", st)
	}
}

func TestModelWC0SavesEveryWriteWC1OnlyOnWriteE2(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	m := Mux{P0: 2, P1: 4, SEL0: true, EN0: true}
	if err := r.dev.WriteMux(ctx, m); err != nil {
		t.Fatal(err)
	}
	if r.model.EEPROM().MUX != r.model.Registers().MUX {
		t.Fatal("WC=0: MUX write not saved to EEPROM")
	}
	// A BUS write saves everything even when it sets WC=1.
	before := r.model.EEPROMWrites()
	if err := r.dev.WriteBus(ctx, Bus{Addr: 0x58, WC: true}); err != nil {
		t.Fatal(err)
	}
	if r.model.EEPROMWrites() != before+1 || r.model.EEPROM().BUS != 0x08 {
		t.Fatalf("BUS write did not save: writes %d -> %d, EEPROM BUS %#x", before, r.model.EEPROMWrites(), r.model.EEPROM().BUS)
	}
	before = r.model.EEPROMWrites()
	if err := r.dev.WriteMux(ctx, DefaultMux); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.WriteDiv(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if r.model.EEPROMWrites() != before {
		t.Fatal("WC=1: register writes reached the EEPROM")
	}
	// Back to WC=0 through BUS: saves all, including the volatile DIV/MUX.
	if err := r.dev.WriteBus(ctx, Bus{Addr: 0x58}); err != nil {
		t.Fatal(err)
	}
	r.model.PowerCycle()
	st, _ := r.dev.Read(ctx)
	if st.Divisor != 7 || st.Mux != DefaultMux || st.Bus.WC {
		t.Fatalf("after BUS write and power cycle: %+v", st)
	}
}

// The chip does not acknowledge while it writes its EEPROM; the Device waits
// the write time and keeps polling when the chip takes longer.
func TestModelBusyDuringEEPROMWrite(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, ds1077lsim.WithWriteTime(25*time.Millisecond))
	if err := r.rec.Tx(ctx, 0x58, []byte{CmdDIV, 0x18, 0x80}, nil); err != nil {
		t.Fatal(err)
	}
	err := r.rec.Tx(ctx, 0x58, []byte{CmdDIV}, make([]byte, 2))
	if !errors.Is(err, i2c.ErrNoAck) || !errors.Is(err, ds1077lsim.ErrBusy) {
		t.Fatalf("read during EEPROM write: %v, want a NAK (busy)", err)
	}
	r.clock.Sleep(ctx, 25*time.Millisecond)
	r.rec.Reset()
	start := r.clock.Now()
	if err := r.dev.WriteDiv(ctx, 5); err != nil {
		t.Fatalf("write with a slow EEPROM: %v", err)
	}
	if waited := r.clock.Now().Sub(start); waited < 25*time.Millisecond {
		t.Fatalf("device waited %v, chip was busy for 25ms", waited)
	}
	var naks int
	for _, tx := range r.rec.Txs() {
		if tx.Err != nil {
			naks++
		}
	}
	if naks == 0 {
		t.Fatal("expected the read-back to be refused while busy and retried")
	}
	// A chip that never comes back is an error, not a hang.
	r2 := newRig(t, ds1077lsim.WithWriteTime(time.Hour))
	if err := r2.dev.WriteDiv(ctx, 5); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("endless EEPROM write: %v, want ErrNoDevice after polling", err)
	}
}

func TestModelDeviceAddressThatDoesNotAnswer(t *testing.T) {
	r := newRig(t)
	d := New(r.rec, 0x5a, WithSleep(r.clock.Sleep))
	if _, err := d.Read(context.Background()); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("read at 0x5a: %v, want ErrNoDevice", err)
	}
	if len(r.rec.Writes()) != 0 {
		t.Fatal("something was written")
	}
}

// Apply validates the whole state before writing anything.
func TestModelApplyInvalidLeavesDeviceUntouched(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	cur, _ := r.dev.Read(ctx)
	next := cur
	next.Divisor = 5           // valid
	next.Mux.P1 = 3            // invalid
	next.Bus = Bus{Addr: 0x59} // valid
	before, eeBefore := r.model.Registers(), r.model.EEPROM()
	if err := r.dev.Apply(ctx, cur, next); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Apply: %v, want ErrInvalid", err)
	}
	if len(r.rec.Writes()) != 0 || r.model.Registers() != before || r.model.EEPROM() != eeBefore {
		t.Fatalf("device changed: writes %q", wires(r.rec.Writes()))
	}
}

// DIV is written before MUX, so clearing DIV1 never runs the old divisor.
func TestModelApplyOrder(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	cur, _ := r.dev.Read(ctx)
	next := cur
	next.Divisor, next.Mux.P1, next.Bus.WC = 10, 4, true
	r.rec.Reset()
	if err := r.dev.Apply(ctx, cur, next); err != nil {
		t.Fatal(err)
	}
	var cmds []byte
	for _, w := range r.rec.Writes() {
		cmds = append(cmds, w.Write[0])
	}
	if string(cmds) != string([]byte{CmdDIV, CmdMUX, CmdBUS}) {
		t.Fatalf("write order % x, want DIV MUX BUS", cmds)
	}
}
