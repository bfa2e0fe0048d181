//go:build linux

package i2c

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Request numbers and flags from linux/i2c-dev.h and linux/i2c.h. x/sys/unix
// does not carry them for Linux.
const (
	ioctlSlave      = 0x0703
	ioctlFuncs      = 0x0705
	ioctlSlaveForce = 0x0706
	ioctlRdwr       = 0x0707
	ioctlSMBus      = 0x0720

	msgRead = 0x0001 // I2C_M_RD

	funcI2C           = 0x00000001
	funcQuick         = 0x00010000
	funcReadByte      = 0x00020000
	funcWriteByte     = 0x00040000
	funcReadByteData  = 0x00080000
	funcWriteByteData = 0x00100000
	funcReadWordData  = 0x00200000
	funcWriteWordData = 0x00400000

	smbusWrite = 0
	smbusRead  = 1

	smbusQuick    = 0
	smbusByte     = 1
	smbusByteData = 2
	smbusWordData = 3
)

// i2cMsg mirrors struct i2c_msg; Go inserts the same padding before buf as
// the C compiler does on both 32- and 64-bit targets.
type i2cMsg struct {
	addr  uint16
	flags uint16
	len   uint16
	buf   *byte
}

// rdwrData mirrors struct i2c_rdwr_ioctl_data.
type rdwrData struct {
	msgs  *i2cMsg
	nmsgs uint32
}

// smbusData mirrors union i2c_smbus_data (block of I2C_SMBUS_BLOCK_MAX+2).
type smbusData [34]byte

// word is the union's __u16 view, in host byte order; SMBus puts its low
// byte on the wire first.
func (d *smbusData) word() uint16     { return *(*uint16)(unsafe.Pointer(&d[0])) }
func (d *smbusData) setWord(v uint16) { *(*uint16)(unsafe.Pointer(&d[0])) = v }

// smbusIoctl mirrors struct i2c_smbus_ioctl_data.
type smbusIoctl struct {
	readWrite uint8
	command   uint8
	size      uint32
	data      *smbusData
}

// ioctler is the kernel boundary; tests replace it to check the exact
// requests (for instance that WRITE E2 becomes SMBus Send Byte, not Quick).
type ioctler interface {
	ioctlInt(req uint, arg int) error
	ioctlPtr(req uint, arg unsafe.Pointer) error
}

type fdIoctl struct{ fd uintptr }

func (f fdIoctl) ioctlInt(req uint, arg int) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.fd, uintptr(req), uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

func (f fdIoctl) ioctlPtr(req uint, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.fd, uintptr(req), uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// Dev is an open Linux i2c-dev adapter node such as /dev/i2c-1.
type Dev struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	sys   ioctler
	funcs uint64
	force bool
	slave int // address last set with I2C_SLAVE, -1 for none
}

// Options for Open.
type Options struct {
	// Force uses I2C_SLAVE_FORCE, taking the address even if a kernel
	// driver has claimed it. Without it a claimed address fails with EBUSY.
	Force bool
}

// Open opens an i2c-dev node and reads the adapter's functionality.
func Open(path string, opt Options) (*Dev, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open i2c bus: %w", err)
	}
	d, err := newDev(path, fdIoctl{f.Fd()}, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	d.f = f
	return d, nil
}

func newDev(path string, sys ioctler, opt Options) (*Dev, error) {
	d := &Dev{path: path, sys: sys, force: opt.Force, slave: -1}
	var funcs uint // C unsigned long: pointer sized on Linux
	if err := sys.ioctlPtr(ioctlFuncs, unsafe.Pointer(&funcs)); err != nil {
		if errors.Is(err, syscall.ENOTTY) {
			return nil, fmt.Errorf("query adapter %s: not an i2c-dev node: %w", path, err)
		}
		return nil, fmt.Errorf("query adapter %s: %w", path, err)
	}
	d.funcs = uint64(funcs)
	return d, nil
}

// Close releases the node.
func (d *Dev) Close() error {
	if d.f == nil {
		return nil
	}
	return d.f.Close()
}

// String names the node.
func (d *Dev) String() string { return d.path }

// PlainI2C reports whether the adapter runs arbitrary I2C messages
// (I2C_RDWR); otherwise Tx maps transactions onto SMBus calls.
func (d *Dev) PlainI2C() bool { return d.funcs&funcI2C != 0 }

// Tx runs one transaction; see Bus.
func (d *Dev) Tx(ctx context.Context, addr uint8, w, r []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if addr > 0x7f {
		return fmt.Errorf("i2c address 0x%02x is not a 7-bit address", addr)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.setSlave(addr); err != nil {
		return err
	}
	var err error
	if d.PlainI2C() && (len(w) > 0 || len(r) > 0) {
		err = d.rdwr(addr, w, r)
	} else {
		err = d.smbus(w, r)
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", d.path, Wire(addr, w, r), err)
	}
	return nil
}

// setSlave binds the fd to addr. It is done even when I2C_RDWR carries the
// address itself, because only I2C_SLAVE refuses an address a kernel driver
// owns (EBUSY), and writing behind a driver's back is what we must not do.
func (d *Dev) setSlave(addr uint8) error {
	if d.slave == int(addr) {
		return nil
	}
	req := uint(ioctlSlave)
	if d.force {
		req = ioctlSlaveForce
	}
	if err := d.sys.ioctlInt(req, int(addr)); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("claim address 0x%02x on %s: a kernel driver owns it (unbind it or use --force): %w", addr, d.path, err)
		}
		return fmt.Errorf("claim address 0x%02x on %s: %w", addr, d.path, err)
	}
	d.slave = int(addr)
	return nil
}

func (d *Dev) rdwr(addr uint8, w, r []byte) error {
	msgs := make([]i2cMsg, 0, 2)
	if len(w) > 0 {
		msgs = append(msgs, i2cMsg{addr: uint16(addr), len: uint16(len(w)), buf: &w[0]})
	}
	if len(r) > 0 {
		msgs = append(msgs, i2cMsg{addr: uint16(addr), flags: msgRead, len: uint16(len(r)), buf: &r[0]})
	}
	data := rdwrData{msgs: &msgs[0], nmsgs: uint32(len(msgs))}
	err := d.sys.ioctlPtr(ioctlRdwr, unsafe.Pointer(&data))
	runtime.KeepAlive(msgs)
	runtime.KeepAlive(w)
	runtime.KeepAlive(r)
	return mapErrno(err)
}

// smbusRequest chooses the SMBus protocol that puts exactly w (then r) on
// the wire. Send Byte (size BYTE, command = the byte) is what a standalone
// command such as the DS1077L's WRITE E2 needs; Quick (size 0) would drop it.
func smbusRequest(w, r []byte) (req smbusIoctl, need uint64, err error) {
	req.data = new(smbusData)
	switch {
	case len(w) == 0 && len(r) == 0:
		req.readWrite, req.size, need = smbusWrite, smbusQuick, funcQuick
	case len(w) == 1 && len(r) == 0:
		req.readWrite, req.size, req.command, need = smbusWrite, smbusByte, w[0], funcWriteByte
	case len(w) == 2 && len(r) == 0:
		req.readWrite, req.size, req.command, need = smbusWrite, smbusByteData, w[0], funcWriteByteData
		req.data[0] = w[1]
	case len(w) == 3 && len(r) == 0:
		req.readWrite, req.size, req.command, need = smbusWrite, smbusWordData, w[0], funcWriteWordData
		req.data.setWord(uint16(w[1]) | uint16(w[2])<<8)
	case len(w) == 0 && len(r) == 1:
		req.readWrite, req.size, need = smbusRead, smbusByte, funcReadByte
	case len(w) == 1 && len(r) == 1:
		req.readWrite, req.size, req.command, need = smbusRead, smbusByteData, w[0], funcReadByteData
	case len(w) == 1 && len(r) == 2:
		req.readWrite, req.size, req.command, need = smbusRead, smbusWordData, w[0], funcReadWordData
	default:
		return req, 0, fmt.Errorf("%d-byte write then %d-byte read has no SMBus form: %w", len(w), len(r), ErrUnsupported)
	}
	return req, need, nil
}

func (d *Dev) smbus(w, r []byte) error {
	req, need, err := smbusRequest(w, r)
	if err != nil {
		return err
	}
	if d.funcs&need != need {
		return fmt.Errorf("adapter lacks SMBus function %#x: %w", need, ErrUnsupported)
	}
	if err := mapErrno(d.sys.ioctlPtr(ioctlSMBus, unsafe.Pointer(&req))); err != nil {
		return err
	}
	switch len(r) {
	case 1:
		r[0] = req.data[0]
	case 2:
		v := req.data.word()
		r[0], r[1] = byte(v), byte(v>>8)
	}
	return nil
}

// mapErrno turns the kernel's "address not acknowledged" codes into ErrNoAck
// (Documentation/i2c/fault-codes: ENXIO for the address phase, EREMOTEIO
// from several adapters for a NAK anywhere).
func mapErrno(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EREMOTEIO) {
		return fmt.Errorf("%w: %w", ErrNoAck, err)
	}
	return err
}
