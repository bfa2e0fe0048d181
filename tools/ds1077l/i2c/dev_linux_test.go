//go:build linux

package i2c

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// fakeKernel stands in for the i2c-dev driver: it decodes the ioctl structs
// exactly as the kernel would and records what it was asked to do.
type fakeKernel struct {
	funcs    uint
	slaves   []int
	slaveReq []uint
	slaveErr error
	smbus    []smbusIoctl
	smbusIn  smbusData // what a read returns
	rdwr     [][]i2cMsgCopy
	readBack []byte // bytes an I2C_RDWR read returns
	err      error
}

type i2cMsgCopy struct {
	addr, flags uint16
	data        []byte
}

func (k *fakeKernel) ioctlInt(req uint, arg int) error {
	k.slaveReq = append(k.slaveReq, req)
	if k.slaveErr != nil {
		return k.slaveErr
	}
	k.slaves = append(k.slaves, arg)
	return nil
}

func (k *fakeKernel) ioctlPtr(req uint, arg unsafe.Pointer) error {
	switch req {
	case ioctlFuncs:
		*(*uint)(arg) = k.funcs
		return nil
	case ioctlSMBus:
		s := (*smbusIoctl)(arg)
		cp := *s
		d := *s.data
		cp.data = &d
		k.smbus = append(k.smbus, cp)
		if k.err != nil {
			return k.err
		}
		if s.readWrite == smbusRead {
			*s.data = k.smbusIn
		}
		return nil
	case ioctlRdwr:
		r := (*rdwrData)(arg)
		var msgs []i2cMsgCopy
		for _, m := range unsafe.Slice(r.msgs, r.nmsgs) {
			buf := unsafe.Slice(m.buf, m.len)
			if m.flags&msgRead != 0 {
				copy(buf, k.readBack)
			}
			msgs = append(msgs, i2cMsgCopy{m.addr, m.flags, append([]byte(nil), buf...)})
		}
		k.rdwr = append(k.rdwr, msgs)
		return k.err
	}
	return syscall.ENOTTY
}

const smbusOnly = funcQuick | funcReadByte | funcWriteByte | funcReadByteData | funcWriteByteData | funcReadWordData | funcWriteWordData

func TestStructLayoutMatchesKernel(t *testing.T) {
	ptr := unsafe.Sizeof(uintptr(0))
	if got, want := unsafe.Sizeof(i2cMsg{}), 8+ptr; got != want {
		t.Errorf("struct i2c_msg: %d bytes, want %d", got, want)
	}
	if got := unsafe.Offsetof(i2cMsg{}.buf); got != 8 {
		t.Errorf("i2c_msg.buf at %d, want 8", got)
	}
	if got := unsafe.Offsetof(smbusIoctl{}.size); got != 4 {
		t.Errorf("i2c_smbus_ioctl_data.size at %d, want 4", got)
	}
	if got := unsafe.Offsetof(smbusIoctl{}.data); got != 8 {
		t.Errorf("i2c_smbus_ioctl_data.data at %d, want 8", got)
	}
	if got := unsafe.Sizeof(smbusData{}); got != 34 {
		t.Errorf("union i2c_smbus_data: %d bytes, want 34", got)
	}
}

// WRITE E2 is a lone command byte: SMBus Send Byte (size BYTE, the byte in
// the command field), not Quick (size 0), which would drop the byte -- the
// bug in the original ds1077l-writee2.
func TestSMBusSendByteForStandaloneCommand(t *testing.T) {
	k := &fakeKernel{funcs: smbusOnly}
	d, err := newDev("/dev/i2c-test", k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Tx(context.Background(), 0x58, []byte{0x3F}, nil); err != nil {
		t.Fatal(err)
	}
	if len(k.smbus) != 1 {
		t.Fatalf("%d SMBus calls", len(k.smbus))
	}
	s := k.smbus[0]
	if s.readWrite != smbusWrite || s.size != smbusByte || s.command != 0x3F {
		t.Fatalf("request rw=%d size=%d command=%#x; want write, size %d (BYTE), command 0x3f", s.readWrite, s.size, s.command, smbusByte)
	}
	if len(k.slaves) != 1 || k.slaves[0] != 0x58 || k.slaveReq[0] != ioctlSlave {
		t.Fatalf("I2C_SLAVE calls %v %v", k.slaveReq, k.slaves)
	}
}

func TestSMBusMappingKeepsWireOrder(t *testing.T) {
	ctx := context.Background()
	k := &fakeKernel{funcs: smbusOnly}
	d, _ := newDev("/dev/i2c-test", k, Options{})
	// MUX write, chip bytes 0x19 then 0x80: SMBus sends the word's low byte
	// first, so the word must be 0x8019.
	if err := d.Tx(ctx, 0x58, []byte{0x02, 0x19, 0x80}, nil); err != nil {
		t.Fatal(err)
	}
	if s := k.smbus[0]; s.size != smbusWordData || s.command != 0x02 || s.data.word() != 0x8019 {
		t.Fatalf("word write: size %d cmd %#x word %#x", s.size, s.command, s.data.word())
	}
	if err := d.Tx(ctx, 0x58, []byte{0x0D, 0x08}, nil); err != nil {
		t.Fatal(err)
	}
	if s := k.smbus[1]; s.size != smbusByteData || s.command != 0x0D || s.data[0] != 0x08 {
		t.Fatalf("byte write: %+v", s)
	}
	// A word read returning 0x0018 is chip bytes 0x18, 0x00 (factory MUX).
	k.smbusIn.setWord(0x0018)
	r := make([]byte, 2)
	if err := d.Tx(ctx, 0x58, []byte{0x02}, r); err != nil {
		t.Fatal(err)
	}
	if s := k.smbus[2]; s.readWrite != smbusRead || s.size != smbusWordData || s.command != 0x02 || r[0] != 0x18 || r[1] != 0x00 {
		t.Fatalf("word read: %+v -> % x", s, r)
	}
	k.smbusIn = smbusData{0x0b}
	r = make([]byte, 1)
	if err := d.Tx(ctx, 0x58, []byte{0x0D}, r); err != nil || r[0] != 0x0b || k.smbus[3].size != smbusByteData {
		t.Fatalf("byte read: % x, %v", r, err)
	}
	if err := d.Tx(ctx, 0x58, nil, nil); err != nil || k.smbus[4].size != smbusQuick {
		t.Fatalf("quick: %v", err)
	}
	if len(k.slaves) != 1 {
		t.Errorf("I2C_SLAVE repeated for the same address: %v", k.slaves)
	}
	if err := d.Tx(ctx, 0x59, []byte{0x0D}, r); err != nil || len(k.slaves) != 2 || k.slaves[1] != 0x59 {
		t.Errorf("address change: slaves %v, %v", k.slaves, err)
	}
	if err := d.Tx(ctx, 0x58, []byte{1, 2, 3, 4}, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("4-byte write on SMBus: %v", err)
	}
	k2 := &fakeKernel{funcs: funcReadByteData}
	d2, _ := newDev("/dev/i2c-test", k2, Options{})
	if err := d2.Tx(ctx, 0x58, []byte{0x3F}, nil); !errors.Is(err, ErrUnsupported) || len(k2.smbus) != 0 {
		t.Errorf("Send Byte on an adapter without it: %v", err)
	}
}

func TestRDWRWhenAdapterSpeaksPlainI2C(t *testing.T) {
	ctx := context.Background()
	k := &fakeKernel{funcs: funcI2C | smbusOnly, readBack: []byte{0x18, 0x80}}
	d, _ := newDev("/dev/i2c-test", k, Options{Force: true})
	r := make([]byte, 2)
	if err := d.Tx(ctx, 0x5a, []byte{0x01}, r); err != nil {
		t.Fatal(err)
	}
	want := []i2cMsgCopy{{0x5a, 0, []byte{0x01}}, {0x5a, msgRead, []byte{0x18, 0x80}}}
	got := k.rdwr[0]
	if len(got) != 2 || got[0].addr != want[0].addr || got[0].flags != 0 || string(got[0].data) != string(want[0].data) ||
		got[1].addr != 0x5a || got[1].flags != msgRead || len(got[1].data) != 2 {
		t.Fatalf("messages %+v", got)
	}
	if r[0] != 0x18 || r[1] != 0x80 {
		t.Fatalf("read % x", r)
	}
	if err := d.Tx(ctx, 0x5a, []byte{0x3F}, nil); err != nil {
		t.Fatal(err)
	}
	if m := k.rdwr[1]; len(m) != 1 || m[0].flags != 0 || string(m[0].data) != "\x3f" {
		t.Fatalf("WRITE E2 as I2C message: %+v", m)
	}
	if k.slaveReq[0] != ioctlSlaveForce {
		t.Fatalf("--force did not use I2C_SLAVE_FORCE: %v", k.slaveReq)
	}
}

func TestKernelErrors(t *testing.T) {
	ctx := context.Background()
	for _, errno := range []syscall.Errno{syscall.ENXIO, syscall.EREMOTEIO} {
		k := &fakeKernel{funcs: smbusOnly, err: errno}
		d, _ := newDev("/dev/i2c-test", k, Options{})
		err := d.Tx(ctx, 0x58, []byte{0x0D}, make([]byte, 1))
		if !errors.Is(err, ErrNoAck) || !errors.Is(err, errno) {
			t.Errorf("%v: got %v, want ErrNoAck wrapping it", errno, err)
		}
	}
	k := &fakeKernel{funcs: smbusOnly, slaveErr: syscall.EBUSY}
	d, _ := newDev("/dev/i2c-test", k, Options{})
	err := d.Tx(ctx, 0x58, []byte{0x0D}, make([]byte, 1))
	if !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), "kernel driver") || len(k.smbus) != 0 {
		t.Errorf("claimed address: %v", err)
	}
	if err := d.Tx(ctx, 0x80, nil, nil); err == nil {
		t.Error("8-bit address accepted")
	}
}

// Real syscalls on things that are not i2c-dev nodes.
func TestOpenRejectsNonI2CNodes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "i2c-1")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, Options{}); err == nil || !strings.Contains(err.Error(), "not an i2c-dev node") {
		t.Errorf("regular file: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing node: %v", err)
	}
}

func TestWire(t *testing.T) {
	for _, tc := range []struct {
		w, r []byte
		want string
	}{
		{[]byte{0x3F}, nil, "START 0xB0 0x3F STOP"},
		{nil, nil, "START 0xB0 STOP"},
		{[]byte{0x02}, []byte{0x18, 0x00}, "START 0xB0 0x02 RESTART 0xB1 [0x18 0x00] STOP"},
		{nil, []byte{0x01}, "START 0xB1 [0x01] STOP"},
	} {
		if got := Wire(0x58, tc.w, tc.r); got != tc.want {
			t.Errorf("got %q want %q", got, tc.want)
		}
	}
}
