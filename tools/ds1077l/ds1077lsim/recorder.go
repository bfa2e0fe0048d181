package ds1077lsim

import (
	"context"
	"sync"

	"github.com/xtbuild/xtbuild/tools/ds1077l/i2c"
)

// Tx is one recorded transaction.
type Tx struct {
	Addr  uint8
	Write []byte // bytes the master sent after the address
	Read  []byte // bytes the slave returned (nil for a write)
	Err   error
}

// IsWrite reports whether the transaction changes nothing but the master's
// bytes reached the chip without a read: a register write or a command.
func (t Tx) IsWrite() bool { return len(t.Write) > 0 && len(t.Read) == 0 }

// Wire renders the transaction as it appears on SDA, e.g.
// "START 0xB0 0x3F STOP"; a transaction that failed ends in "NAK".
func (t Tx) Wire() string {
	s := i2c.Wire(t.Addr, t.Write, t.Read)
	if t.Err != nil {
		s += " NAK"
	}
	return s
}

// Recorder passes transactions to a Bus and keeps a copy of each.
type Recorder struct {
	Bus i2c.Bus
	mu  sync.Mutex
	txs []Tx
}

// NewRecorder wraps b.
func NewRecorder(b i2c.Bus) *Recorder { return &Recorder{Bus: b} }

// Tx implements i2c.Bus.
func (r *Recorder) Tx(ctx context.Context, addr uint8, w, rd []byte) error {
	err := r.Bus.Tx(ctx, addr, w, rd)
	t := Tx{Addr: addr, Write: append([]byte(nil), w...), Err: err}
	if len(rd) > 0 {
		t.Read = append([]byte{}, rd...)
	}
	r.mu.Lock()
	r.txs = append(r.txs, t)
	r.mu.Unlock()
	return err
}

// Txs returns the transactions so far.
func (r *Recorder) Txs() []Tx {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Tx(nil), r.txs...)
}

// Writes returns the successful transactions that sent data and read none.
func (r *Recorder) Writes() []Tx {
	var out []Tx
	for _, t := range r.Txs() {
		if t.IsWrite() && t.Err == nil {
			out = append(out, t)
		}
	}
	return out
}

// Reset forgets the recorded transactions.
func (r *Recorder) Reset() { r.mu.Lock(); r.txs = nil; r.mu.Unlock() }
