package ds1077l

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/xtbuild/xtbuild/tools/ds1077l/i2c"
)

// EEPROMWriteTime is how long the tool waits after anything that writes the
// EEPROM before talking to the chip again. The DS1077L pages at hand give no
// figure; the sibling DS1085 lists tWR 10 ms max. After it the tool keeps
// polling (the chip does not acknowledge while busy) up to PollTimeout.
const (
	EEPROMWriteTime = 10 * time.Millisecond
	PollInterval    = 2 * time.Millisecond
	PollTimeout     = 100 * time.Millisecond
)

// ErrVerify means a register read back differs from what was written.
var ErrVerify = errors.New("read-back differs from what was written")

// ErrNoDevice means nothing acknowledged at the address.
var ErrNoDevice = errors.New("no DS1077L answers")

// Device is one DS1077L on a bus.
type Device struct {
	bus   i2c.Bus
	addr  uint8
	sleep func(context.Context, time.Duration) error
	log   *slog.Logger
	// wc caches BUS.WC to know whether a DIV/MUX write saves to EEPROM.
	wc      bool
	wcKnown bool
}

// Option configures a Device.
type Option func(*Device)

// WithSleep replaces the wait used after EEPROM writes (tests pass a fake
// clock's Sleep).
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(d *Device) { d.sleep = f }
}

// WithLogger sets the diagnostics logger.
func WithLogger(l *slog.Logger) Option { return func(d *Device) { d.log = l } }

// New returns the DS1077L at addr on bus.
func New(bus i2c.Bus, addr uint8, opts ...Option) *Device {
	d := &Device{bus: bus, addr: addr, sleep: sleepCtx, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(d)
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Addr is the address the device is talked to at (it moves with a BUS write).
func (d *Device) Addr() uint8 { return d.addr }

func (d *Device) tx(ctx context.Context, w, r []byte) error {
	err := d.bus.Tx(ctx, d.addr, w, r)
	d.log.Debug("i2c", "wire", i2c.Wire(d.addr, w, r), "err", err)
	if errors.Is(err, i2c.ErrNoAck) {
		return fmt.Errorf("%w at 0x%02x: %w", ErrNoDevice, d.addr, err)
	}
	return err
}

func (d *Device) read(ctx context.Context, cmd byte, n int) ([]byte, error) {
	r := make([]byte, n)
	if err := d.tx(ctx, []byte{cmd}, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ReadBus reads the BUS register.
func (d *Device) ReadBus(ctx context.Context) (Bus, error) {
	r, err := d.read(ctx, CmdBUS, 1)
	if err != nil {
		return Bus{}, fmt.Errorf("read BUS register: %w", err)
	}
	b := DecodeBus(r[0])
	d.wc, d.wcKnown = b.WC, true
	return b, nil
}

// ReadDiv reads the DIV register and returns the divisor (2..1025).
func (d *Device) ReadDiv(ctx context.Context) (int, error) {
	r, err := d.read(ctx, CmdDIV, 2)
	if err != nil {
		return 0, fmt.Errorf("read DIV register: %w", err)
	}
	return DecodeDiv([2]byte{r[0], r[1]}), nil
}

// ReadMux reads the MUX register.
func (d *Device) ReadMux(ctx context.Context) (Mux, error) {
	r, err := d.read(ctx, CmdMUX, 2)
	if err != nil {
		return Mux{}, fmt.Errorf("read MUX register: %w", err)
	}
	return DecodeMux([2]byte{r[0], r[1]}), nil
}

// Read reads all three registers.
func (d *Device) Read(ctx context.Context) (State, error) {
	var s State
	var err error
	if s.Bus, err = d.ReadBus(ctx); err != nil {
		return s, err
	}
	if s.Divisor, err = d.ReadDiv(ctx); err != nil {
		return s, err
	}
	if s.Mux, err = d.ReadMux(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// savesOnWrite reports whether a DIV or MUX write will be copied to EEPROM.
func (d *Device) savesOnWrite(ctx context.Context) (bool, error) {
	if !d.wcKnown {
		if _, err := d.ReadBus(ctx); err != nil {
			return false, err
		}
	}
	return !d.wc, nil
}

// waitEEPROM waits the write cycle out, then polls with f (a read-back)
// while the chip does not acknowledge.
func (d *Device) waitEEPROM(ctx context.Context, f func() error) error {
	if err := d.sleep(ctx, EEPROMWriteTime); err != nil {
		return err
	}
	for waited := time.Duration(0); ; waited += PollInterval {
		err := f()
		if err == nil || !errors.Is(err, i2c.ErrNoAck) || waited >= PollTimeout {
			return err
		}
		d.log.Debug("DS1077L still busy writing EEPROM", "waited", EEPROMWriteTime+waited)
		if err := d.sleep(ctx, PollInterval); err != nil {
			return err
		}
	}
}

// writeWord writes a two-byte register, waits if that saves to EEPROM, and
// reads back to confirm the bits in mask.
func (d *Device) writeWord(ctx context.Context, name string, cmd byte, b [2]byte, mask uint16) error {
	saves, err := d.savesOnWrite(ctx)
	if err != nil {
		return fmt.Errorf("write %s register: %w", name, err)
	}
	if err := d.tx(ctx, []byte{cmd, b[0], b[1]}, nil); err != nil {
		return fmt.Errorf("write %s register: %w", name, err)
	}
	verify := func() error {
		r, err := d.read(ctx, cmd, 2)
		if err != nil {
			return err
		}
		got, want := (uint16(r[0])<<8|uint16(r[1]))&mask, (uint16(b[0])<<8|uint16(b[1]))&mask
		if got != want {
			return fmt.Errorf("%w: wrote %02x %02x, read %02x %02x", ErrVerify, b[0], b[1], r[0], r[1])
		}
		return nil
	}
	if saves {
		err = d.waitEEPROM(ctx, verify)
	} else {
		err = verify()
	}
	if err != nil {
		return fmt.Errorf("verify %s register: %w", name, err)
	}
	return nil
}

// WriteDiv sets the divisor (2..1025) and confirms it.
func (d *Device) WriteDiv(ctx context.Context, divisor int) error {
	b, err := EncodeDiv(divisor)
	if err != nil {
		return fmt.Errorf("write DIV register: %w", err)
	}
	return d.writeWord(ctx, "DIV", CmdDIV, b, DivMask)
}

// WriteMux sets MUX and confirms it.
func (d *Device) WriteMux(ctx context.Context, m Mux) error {
	b, err := m.Bytes()
	if err != nil {
		return fmt.Errorf("write MUX register: %w", err)
	}
	return d.writeWord(ctx, "MUX", CmdMUX, b, MuxMask)
}

// WriteBus sets BUS. The chip saves all registers to EEPROM on any BUS
// write, whatever WC says, and answers at the new address at once; the
// device follows it there and confirms by reading BUS back at the new
// address.
func (d *Device) WriteBus(ctx context.Context, b Bus) error {
	v, err := b.Byte()
	if err != nil {
		return fmt.Errorf("write BUS register: %w", err)
	}
	if err := d.tx(ctx, []byte{CmdBUS, v}, nil); err != nil {
		return fmt.Errorf("write BUS register: %w", err)
	}
	old := d.addr
	d.addr = b.Addr
	d.wc, d.wcKnown = b.WC, true
	err = d.waitEEPROM(ctx, func() error {
		r, err := d.read(ctx, CmdBUS, 1)
		if err != nil {
			return err
		}
		if r[0]&BusMask != v {
			return fmt.Errorf("%w: wrote %02x, read %02x", ErrVerify, v, r[0])
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify BUS register (device moved from 0x%02x to 0x%02x): %w", old, b.Addr, err)
	}
	return nil
}

// Save sends WRITE E2: START, address+W, 0x3F, STOP (SMBus Send Byte), which
// copies BUS, DIV and MUX into EEPROM. Only needed with WC = 1. It waits the
// write out and confirms the chip answers again.
func (d *Device) Save(ctx context.Context) error {
	if err := d.tx(ctx, []byte{CmdWriteE2}, nil); err != nil {
		return fmt.Errorf("send WRITE E2: %w", err)
	}
	if err := d.waitEEPROM(ctx, func() error { _, err := d.ReadBus(ctx); return err }); err != nil {
		return fmt.Errorf("wait for EEPROM write: %w", err)
	}
	return nil
}

// Apply moves the device from cur (as read) to next, writing only the
// registers that change: DIV before MUX (Maxim's advice: a divider change
// takes only if DIV1 is cleared after DIV is set), BUS last because it
// saves everything and may move the address. next is validated whole first;
// nothing is written if any field is invalid.
func (d *Device) Apply(ctx context.Context, cur, next State) error {
	if err := next.Validate(); err != nil {
		return fmt.Errorf("new state: %w", err)
	}
	if next.Divisor != cur.Divisor {
		if err := d.WriteDiv(ctx, next.Divisor); err != nil {
			return err
		}
	}
	if next.Mux != cur.Mux {
		if err := d.WriteMux(ctx, next.Mux); err != nil {
			return err
		}
	}
	if next.Bus != cur.Bus {
		if err := d.WriteBus(ctx, next.Bus); err != nil {
			return err
		}
	}
	return nil
}
