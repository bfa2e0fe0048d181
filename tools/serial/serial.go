// Package serial finds the serial ports of a machine and the tboot command
// line options that make tboot log to each of them. tboot drives a 16550
// UART through port I/O only, at the base address given in its serial=
// option (default 0x3f8), so an add-in card or an AMT SOL port needs its
// I/O base spelled out.
package serial

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is one serial port found on the machine.
type Port struct {
	// TTY is the kernel's name (ttyS4); empty when only PCI data was seen.
	TTY string `json:"tty,omitempty"`
	// PCI is the device address as found (0000:02:00.0 from sysfs, 02:00.0
	// from lspci); empty for ISA/PNP and platform ports.
	PCI string `json:"pci,omitempty"`
	// Desc says what the port is: lspci's device name, a PNP id, "platform".
	Desc string `json:"description,omitempty"`
	// IOBase is the first I/O port of the UART; 0 when it has none.
	IOBase uint64 `json:"io_base,omitempty"`
	IOSize uint64 `json:"io_size,omitempty"`
	// MMIOBase is set for memory-mapped UARTs, which tboot cannot drive.
	MMIOBase uint64 `json:"mmio_base,omitempty"`
	IRQ      int    `json:"irq,omitempty"`
	// UARTClock is the UART input clock in Hz (sysfs uartclk), 0 if unknown.
	UARTClock uint64 `json:"uart_clock,omitempty"`
	// IODisabled: lspci showed the I/O region [disabled] (decoding off).
	IODisabled bool   `json:"io_disabled,omitempty"`
	Source     string `json:"source"`
	// Note explains why tboot cannot use the port, or what to watch for.
	Note string `json:"note,omitempty"`
}

// Usable reports whether tboot can log to the port.
func (p Port) Usable() bool { return p.IOBase != 0 }

// StandardClock is the 16550's usual 1.8432 MHz input clock, which tboot
// assumes unless serial= names another.
const StandardClock = 1843200

// Options are the serial line settings to put on the tboot command line.
type Options struct {
	Baud   int
	Format string // DPS: data bits, parity, stop bits, e.g. 8n1
	// WithPCI appends the port's IRQ and PCI address, so tboot programs BAR0
	// with the I/O base and turns on I/O decoding itself.
	WithPCI bool
}

// DefaultOptions are tboot's own defaults.
var DefaultOptions = Options{Baud: 115200, Format: "8n1"}

// Validate refuses settings tboot would drop silently: a baud outside
// 1200..115200 makes tboot discard the serial target altogether, and a DPS
// that is not exactly <5-8><n|o|e|m|s><0|1> leaves tboot on its default.
func (o Options) Validate() error {
	if o.Baud < 1200 || o.Baud > 115200 {
		return fmt.Errorf("baud %d: tboot only accepts 1200..115200 and silently drops serial logging otherwise", o.Baud)
	}
	f := o.Format
	if len(f) != 3 || f[0] < '5' || f[0] > '8' || !strings.ContainsRune("noems", rune(f[1])) || (f[2] != '0' && f[2] != '1') {
		return fmt.Errorf("format %q: tboot wants exactly data bits 5-8, parity n/o/e/m/s and stop field 0 or 1 (e.g. 8n1)", f)
	}
	return nil
}

// maxValueLen is tboot's limit for an option value.
const maxValueLen = 63

// TbootOptions renders the tboot command line options for p, e.g.
// "logging=serial serial=115200,8n1,0xe030".
func TbootOptions(p Port, o Options) (string, error) {
	if err := o.Validate(); err != nil {
		return "", err
	}
	if !p.Usable() {
		return "", fmt.Errorf("port %s: no I/O port base (tboot drives UARTs through port I/O only)", p.label())
	}
	baud := strconv.Itoa(o.Baud)
	if p.UARTClock != 0 && p.UARTClock != StandardClock {
		baud += "/" + strconv.FormatUint(p.UARTClock, 10)
	}
	v := fmt.Sprintf("%s,%s,0x%x", baud, o.Format, p.IOBase)
	if o.WithPCI {
		bdf, err := tbootBDF(p.PCI)
		if err != nil {
			return "", fmt.Errorf("port %s: %w", p.label(), err)
		}
		if p.IRQ <= 0 {
			return "", fmt.Errorf("port %s: IRQ unknown, and tboot needs one before the PCI address", p.label())
		}
		v += fmt.Sprintf(",%d,%s", p.IRQ, bdf)
	}
	if len(v) > maxValueLen {
		return "", fmt.Errorf("serial=%s is longer than tboot's %d-character limit", v, maxValueLen)
	}
	return "logging=serial serial=" + v, nil
}

// tbootBDF turns 0000:02:00.0 or 02:00.0 into tboot's hex bus:dev.func.
// tboot has no PCI domain field, so only domain 0 can be named.
func tbootBDF(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("not a PCI device")
	}
	a := addr
	if strings.Count(a, ":") == 2 {
		dom, rest, _ := strings.Cut(a, ":")
		if d, err := strconv.ParseUint(dom, 16, 32); err != nil || d != 0 {
			return "", fmt.Errorf("PCI address %s: tboot can only name devices in domain 0000", addr)
		}
		a = rest
	}
	bus, rest, ok1 := strings.Cut(a, ":")
	dev, fn, ok2 := strings.Cut(rest, ".")
	b, e1 := strconv.ParseUint(bus, 16, 8)
	d, e2 := strconv.ParseUint(dev, 16, 8)
	f, e3 := strconv.ParseUint(fn, 16, 8)
	if !ok1 || !ok2 || e1 != nil || e2 != nil || e3 != nil || d > 31 || f > 7 {
		return "", fmt.Errorf("PCI address %q: want bus:dev.func", addr)
	}
	return fmt.Sprintf("%02x:%02x.%x", b, d, f), nil
}

func (p Port) label() string {
	switch {
	case p.TTY != "":
		return p.TTY
	case p.PCI != "":
		return p.PCI
	}
	return "?"
}
