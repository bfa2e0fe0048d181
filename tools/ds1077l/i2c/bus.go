// Package i2c is the transport the DS1077L tool talks through: one small
// interface (Bus) that both the Linux i2c-dev implementation and the
// datasheet model in ds1077lsim satisfy, so tests exercise the same code
// path a real bus does.
package i2c

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Bus runs I2C transactions against a 7-bit slave address.
type Bus interface {
	// Tx runs one transaction: START, addr+W and the bytes of w (if any);
	// then, if r is not empty, a repeated START, addr+R and len(r) bytes
	// read into r; then STOP. With both empty it is an SMBus Quick write.
	// A missing acknowledge is reported as an error wrapping ErrNoAck.
	Tx(ctx context.Context, addr uint8, w, r []byte) error
}

// ErrNoAck means the slave did not acknowledge: nothing answers at the
// address, or the device is busy (a DS1077L ignores the bus while it writes
// its EEPROM).
var ErrNoAck = errors.New("no acknowledge")

// ErrUnsupported means the adapter cannot run a transaction of this shape.
var ErrUnsupported = errors.New("transaction not supported by adapter")

// Wire renders a transaction the way it appears on SDA, for logs, dry runs
// and tests: "START 0xB0 0x3F STOP" or
// "START 0xB0 0x02 RESTART 0xB1 [0x18 0x00] STOP" (bytes in brackets are
// driven by the slave).
func Wire(addr uint8, w, r []byte) string {
	var b strings.Builder
	b.WriteString("START")
	if len(w) > 0 || len(r) == 0 {
		fmt.Fprintf(&b, " 0x%02X", addr<<1)
		for _, c := range w {
			fmt.Fprintf(&b, " 0x%02X", c)
		}
	}
	if len(r) > 0 {
		if len(w) > 0 {
			b.WriteString(" RESTART")
		}
		fmt.Fprintf(&b, " 0x%02X [", addr<<1|1)
		for i, c := range r {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "0x%02X", c)
		}
		b.WriteByte(']')
	}
	b.WriteString(" STOP")
	return b.String()
}
