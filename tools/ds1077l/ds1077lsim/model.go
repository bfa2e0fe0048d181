// Package ds1077lsim is a stand-in for a Maxim DS1077L on an I2C bus, written
// from the datasheet, plus a recorder of the transactions on the wire. Tests
// drive the real tool code through it, and the tool's --dry-run replays a
// planned change on it to print the exact bytes it would send. It is not a
// substitute for the chip anywhere a user would meet one.
//
// What it models: the three registers (DIV 0x01 and MUX 0x02 two bytes, MSB
// first; BUS 0x0D one byte), their EEPROM copy reloaded at power-up, the
// factory defaults, the WC rule (WC=0: every register write is saved; WC=1:
// only WRITE E2 0x3F saves), the exception that a BUS write always saves,
// the device address A2..A0 taken from BUS at once, and the EEPROM write
// time during which the chip does not acknowledge its address.
//
// Where the datasheet is silent the model is strict so that misuse shows up
// in tests: reserved BUS bits set, unknown commands, a WRITE E2 carrying data
// or more data bytes than a register holds are refused (not acknowledged),
// and don't-care bits read back as 0.
package ds1077lsim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/xtbuild/xtbuild/tools/ds1077l/i2c"
)

// Datasheet command bytes.
const (
	cmdDIV     = 0x01
	cmdMUX     = 0x02
	cmdBUS     = 0x0D
	cmdWriteE2 = 0x3F
)

// Bit masks in the datasheet's big-endian 16-bit register words and the BUS
// byte. They are written out here, apart from the tool's own encoding, so the
// model checks the tool rather than repeating it.
const (
	divUsed  = 0xFFC0 // N9..N0; bits 5..0 don't care
	muxUsed  = 0x7FC0 // PDN1..DIV1; bit 15 reserved, bits 5..0 don't care
	busWC    = 0x08
	busAddr  = 0x07
	busUsed  = 0x0F
	baseAddr = 0x58
)

// DefaultWriteTime is the EEPROM write cycle the model stays busy for. The
// DS1077L pages at hand give no figure; the sibling DS1085 lists 10 ms max.
const DefaultWriteTime = 10 * time.Millisecond

// Grades maps each DS1077L frequency grade to its master clock in Hz, from
// the datasheet's standard frequency options.
var Grades = map[int]float64{40: 40.000e6, 50: 50.000e6, 60: 60.000e6, 66: 66.666e6}

// Registers is the raw content of the three registers.
type Registers struct {
	DIV [2]byte // first byte on the wire first
	MUX [2]byte
	BUS byte
}

// FactoryDefaults are the datasheet's default settings: N = 0 (divide by 2),
// MUX with SEL0 and EN0 set, BUS 0 (address 0x58, WC = 0). The register
// defaults are the same for every grade; the grade sets the master clock.
func FactoryDefaults() Registers {
	return Registers{DIV: [2]byte{0x00, 0x00}, MUX: [2]byte{0x18, 0x00}, BUS: 0x00}
}

// Clock gives the model its notion of time, so tests can step through an
// EEPROM write cycle without sleeping.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// FakeClock is a manual clock; Sleep advances it. Share one between the model
// and the code under test.
type FakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeClock starts at an arbitrary fixed instant.
func NewFakeClock() *FakeClock {
	return &FakeClock{t: time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC)}
}

// Now reports the current fake time.
func (c *FakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Sleep advances the clock by d at once.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

// Model is one simulated DS1077L. It implements i2c.Bus; any other address
// on the simulated bus does not answer.
type Model struct {
	mu        sync.Mutex
	grade     int
	clock     Clock
	writeTime time.Duration
	ram       Registers
	eeprom    Registers
	busyUntil time.Time
	saves     int
	pointer   byte // last command byte, for reads without one
}

// Option configures a Model.
type Option func(*Model)

// WithClock sets the time source (default: wall clock).
func WithClock(c Clock) Option { return func(m *Model) { m.clock = c } }

// WithWriteTime sets how long an EEPROM write keeps the chip busy.
func WithWriteTime(d time.Duration) Option { return func(m *Model) { m.writeTime = d } }

// WithEEPROM sets the EEPROM content (and so the power-up registers),
// as if the chip had been programmed before.
func WithEEPROM(r Registers) Option { return func(m *Model) { m.eeprom = sanitize(r) } }

// New returns a powered-up chip of the given grade (40, 50, 60 or 66) with
// factory EEPROM content. Grade 0 means unknown: registers work, frequencies
// cannot be computed.
func New(grade int, opts ...Option) (*Model, error) {
	if _, ok := Grades[grade]; !ok && grade != 0 {
		return nil, fmt.Errorf("new DS1077L model: no grade -%d (have 40, 50, 60, 66)", grade)
	}
	m := &Model{grade: grade, clock: wallClock{}, writeTime: DefaultWriteTime, eeprom: FactoryDefaults()}
	for _, o := range opts {
		o(m)
	}
	m.ram = m.eeprom
	return m, nil
}

func sanitize(r Registers) Registers {
	return Registers{
		DIV: [2]byte{r.DIV[0], r.DIV[1] & byte(divUsed&0xFF)},
		MUX: [2]byte{r.MUX[0] & byte(muxUsed>>8), r.MUX[1] & byte(muxUsed&0xFF)},
		BUS: r.BUS & busUsed,
	}
}

// Address is the 7-bit address the chip answers at now.
func (m *Model) Address() uint8 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return baseAddr | m.ram.BUS&busAddr
}

// Registers returns the live register content.
func (m *Model) Registers() Registers { m.mu.Lock(); defer m.mu.Unlock(); return m.ram }

// SetRegisters overwrites the live registers without touching the EEPROM
// (used by the dry run to mirror a real chip's current state).
func (m *Model) SetRegisters(r Registers) { m.mu.Lock(); defer m.mu.Unlock(); m.ram = sanitize(r) }

// EEPROM returns the saved content.
func (m *Model) EEPROM() Registers { m.mu.Lock(); defer m.mu.Unlock(); return m.eeprom }

// EEPROMWrites counts EEPROM write cycles since creation (wear).
func (m *Model) EEPROMWrites() int { m.mu.Lock(); defer m.mu.Unlock(); return m.saves }

// Busy reports whether an EEPROM write is in progress.
func (m *Model) Busy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clock.Now().Before(m.busyUntil)
}

// PowerCycle removes and restores power: the registers reload from EEPROM.
// An EEPROM write still in progress is lost, as on the chip.
func (m *Model) PowerCycle() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ram = m.eeprom
	m.busyUntil = time.Time{}
	m.pointer = 0
}

// Errors the model answers with besides i2c.ErrNoAck for an absent address.
var (
	ErrBusy     = errors.New("DS1077L busy writing EEPROM")
	ErrRefused  = errors.New("DS1077L refused the byte")
	ErrProtocol = errors.New("transaction the DS1077L does not define")
)

// Tx implements i2c.Bus.
func (m *Model) Tx(ctx context.Context, addr uint8, w, r []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr != baseAddr|m.ram.BUS&busAddr {
		return fmt.Errorf("address 0x%02x: %w", addr, i2c.ErrNoAck)
	}
	if m.clock.Now().Before(m.busyUntil) {
		return fmt.Errorf("address 0x%02x: %w: %w", addr, i2c.ErrNoAck, ErrBusy)
	}
	if len(w) == 0 {
		if len(r) == 0 {
			return nil // Quick: the address is acknowledged, nothing else happens.
		}
		return m.read(m.pointer, r)
	}
	cmd, data := w[0], w[1:]
	switch cmd {
	case cmdDIV, cmdMUX, cmdBUS:
	case cmdWriteE2:
		if len(data) > 0 || len(r) > 0 {
			return fmt.Errorf("WRITE E2 with data or a read: %w: %w", i2c.ErrNoAck, ErrRefused)
		}
		m.save()
		return nil
	default:
		return fmt.Errorf("command 0x%02x: %w: %w", cmd, i2c.ErrNoAck, ErrRefused)
	}
	m.pointer = cmd
	if len(data) > 0 {
		if len(r) > 0 {
			return fmt.Errorf("register write followed by a read: %w", ErrProtocol)
		}
		return m.write(cmd, data)
	}
	if len(r) > 0 {
		return m.read(cmd, r)
	}
	return nil
}

func (m *Model) write(cmd byte, data []byte) error {
	switch cmd {
	case cmdBUS:
		if len(data) != 1 {
			return fmt.Errorf("BUS takes one byte, got %d: %w: %w", len(data), i2c.ErrNoAck, ErrRefused)
		}
		if data[0]&^busUsed != 0 {
			return fmt.Errorf("BUS 0x%02x sets reserved bits: %w: %w", data[0], i2c.ErrNoAck, ErrRefused)
		}
		m.ram.BUS = data[0]
		// A BUS write saves every register, whatever WC says.
		m.save()
		return nil
	case cmdDIV, cmdMUX:
		if len(data) > 2 {
			return fmt.Errorf("register 0x%02x takes two bytes, got %d: %w: %w", cmd, len(data), i2c.ErrNoAck, ErrRefused)
		}
		reg, used := &m.ram.DIV, uint16(divUsed)
		if cmd == cmdMUX {
			reg, used = &m.ram.MUX, muxUsed
		}
		reg[0] = data[0] & byte(used>>8)
		if len(data) == 2 { // the datasheet allows writing the MSB alone
			reg[1] = data[1] & byte(used)
		}
		if m.ram.BUS&busWC == 0 {
			m.save()
		}
		return nil
	}
	return fmt.Errorf("write to 0x%02x: %w", cmd, ErrProtocol)
}

func (m *Model) read(cmd byte, r []byte) error {
	var src []byte
	switch cmd {
	case cmdDIV:
		src = m.ram.DIV[:]
	case cmdMUX:
		src = m.ram.MUX[:]
	case cmdBUS:
		src = []byte{m.ram.BUS}
	default:
		return fmt.Errorf("read with no register selected: %w", ErrProtocol)
	}
	if len(r) > len(src) {
		return fmt.Errorf("read of %d bytes from a %d-byte register: %w", len(r), len(src), ErrProtocol)
	}
	copy(r, src)
	return nil
}

func (m *Model) save() {
	m.eeprom = m.ram
	m.saves++
	m.busyUntil = m.clock.Now().Add(m.writeTime)
}

// MasterClock is the grade's MCLK in Hz (0 if the grade is unknown).
func (m *Model) MasterClock() float64 { return Grades[m.grade] }

// Out1 computes OUT1 in Hz from the live registers: MCLK / P1 / N, or
// MCLK / P1 with DIV1 set.
func (m *Model) Out1() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	mux := uint16(m.ram.MUX[0])<<8 | uint16(m.ram.MUX[1])
	p1code := (mux >> 7) & 0x3 // 1M1 is bit 8, 1M0 bit 7
	f := Grades[m.grade] / float64(uint(1)<<p1code)
	if mux&0x0040 != 0 { // DIV1
		return f
	}
	n := (uint16(m.ram.DIV[0])<<8 | uint16(m.ram.DIV[1])) >> 6
	return f / float64(n+2)
}

// Out0 computes OUT0 in Hz: MCLK / P0.
func (m *Model) Out0() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	p0code := (m.ram.MUX[0] >> 1) & 0x3 // 0M1 bit 10, 0M0 bit 9
	return Grades[m.grade] / float64(uint(1)<<p0code)
}
