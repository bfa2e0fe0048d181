//go:build !linux

package i2c

import (
	"context"
	"errors"
)

// Dev is only implemented on Linux (i2c-dev).
type Dev struct{}

// Options for Open.
type Options struct{ Force bool }

// Open fails: i2c-dev is Linux only.
func Open(path string, opt Options) (*Dev, error) {
	return nil, errors.New("open i2c bus: i2c-dev is only available on Linux")
}

func (d *Dev) Close() error   { return nil }
func (d *Dev) String() string { return "" }
func (d *Dev) Tx(ctx context.Context, addr uint8, w, r []byte) error {
	return errors.New("i2c-dev is only available on Linux")
}
