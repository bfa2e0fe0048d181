// Package device opens a channel to a TPM and moves whole command/response
// frames over it: a kernel character device (/dev/tpm0, /dev/tpmrm0) or an
// emulator's Unix socket (swtpm, written "unix:/path/to/sock").
//
// It knows only the frame layout that TPM 1.2 and 2.0 share (tag u16,
// size u32, code u32); what the bytes mean is the caller's business. Open
// errors are classified (no TPM, permission, busy, not a TPM) so tools can
// tell the user what to do.
package device

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPath is the TPM the tools use when none is named. /dev/tpm0 exists
// for TPM 1.2 and 2.0 alike; /dev/tpmrm0 (2.0 only) must be asked for.
const DefaultPath = "/dev/tpm0"

// DefaultTimeout bounds one command when the context has no deadline. TPM 1.2
// "long" ordinals may legitimately take tens of seconds on slow parts.
const DefaultTimeout = 2 * time.Minute

// MaxResponse caps a response frame. The kernel's buffer is 4 KiB; a bigger
// size field means the bytes are not a TPM frame.
const MaxResponse = 64 << 10

// HeaderSize is the size of the tag/size/code header of every response.
const HeaderSize = 10

// Errors an Open or Transmit can be classified as (test with errors.Is).
var (
	// ErrNoTPM: nothing at the path (no driver bound, emulator not running).
	ErrNoTPM = errors.New("no TPM")
	// ErrPermission: the device or socket exists but may not be opened.
	ErrPermission = errors.New("permission denied")
	// ErrBusy: another process holds the device (/dev/tpm0 is exclusive).
	ErrBusy = errors.New("TPM device busy")
	// ErrNotTPM: the path is not a TPM, or it answered with bytes that are
	// not a TPM response frame.
	ErrNotTPM = errors.New("not a TPM")
	// ErrTimeout: the TPM did not answer in time.
	ErrTimeout = errors.New("TPM did not answer in time")
)

// Transmitter is what the TPM code above needs: send one command frame,
// get back the whole response frame. *Device implements it.
type Transmitter interface {
	Transmit(ctx context.Context, cmd []byte) ([]byte, error)
}

// Device is an open TPM. It is safe for concurrent use; commands are
// serialised because a TPM handles one at a time.
type Device struct {
	name    string
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	f      *os.File // character device
	conn   net.Conn // emulator socket, one connection for the Device's life
	broken error    // set when a frame was lost; the stream is out of step
}

// Options tune Open. The zero value is fine.
type Options struct {
	// Timeout per command when ctx has no deadline (DefaultTimeout if 0).
	Timeout time.Duration
	// Logger for per-command diagnostics at debug level (slog.Default if nil).
	Logger *slog.Logger
}

// Open opens name: "unix:/path" or "tcp:host:port" for an emulator socket, otherwise a path
// that must be a character device or a Unix socket.
func Open(ctx context.Context, name string, opt Options) (*Device, error) {
	if name == "" {
		name = DefaultPath
	}
	d := &Device{name: name, timeout: opt.Timeout, log: opt.Logger}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if sock, ok := strings.CutPrefix(name, "unix:"); ok {
		return d, d.dial(ctx, "unix", sock)
	}
	if addr, ok := strings.CutPrefix(name, "tcp:"); ok {
		// swtpm's TCP server (--server type=tcp,port=N), as tcsd -e uses it.
		return d, d.dial(ctx, "tcp", addr)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, classifyOpen(name, err)
	}
	switch {
	case fi.Mode()&fs.ModeSocket != 0:
		return d, d.dial(ctx, "unix", name)
	case fi.Mode()&fs.ModeCharDevice != 0:
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return nil, classifyOpen(name, err)
		}
		d.f = f
		return d, nil
	default:
		return nil, fmt.Errorf("open %s: %w: it is a %s, not a character device or socket", name, ErrNotTPM, describeMode(fi.Mode()))
	}
}

func (d *Device) dial(ctx context.Context, network, addr string) error {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return classifyOpen(d.name, err)
	}
	d.conn = c
	return nil
}

// Name is the device as given to Open ("/dev/tpm0", "unix:/run/swtpm.sock").
func (d *Device) Name() string { return d.name }

// Close releases the device.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	if d.f != nil {
		err = d.f.Close()
		d.f = nil
	}
	if d.conn != nil {
		err = d.conn.Close()
		d.conn = nil
	}
	return err
}

// Transmit sends one command frame and returns the complete response frame,
// checked for a sane header. A TPM error code in the response is not an
// error here; the caller reads the code.
func (d *Device) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken != nil {
		return nil, fmt.Errorf("transmit to %s: earlier exchange failed: %w", d.name, d.broken)
	}
	if d.f == nil && d.conn == nil {
		return nil, fmt.Errorf("transmit to %s: device is closed", d.name)
	}
	if _, hasDeadline := ctx.Deadline(); !hasDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	start := time.Now()
	resp, err := d.exchange(ctx, cmd)
	if err != nil {
		// Whatever is left in the pipe belongs to this command; nothing after
		// it could be trusted, so refuse further use.
		d.broken = err
		return nil, fmt.Errorf("transmit to %s: %w", d.name, err)
	}
	d.log.Debug("tpm exchange", "device", d.name, "command", fmt.Sprintf("%x", head(cmd)),
		"response", fmt.Sprintf("%x", head(resp)), "took", time.Since(start))
	return resp, nil
}

func head(b []byte) []byte {
	if len(b) > HeaderSize {
		return b[:HeaderSize]
	}
	return b
}

// deadliner is what *os.File and net.Conn share.
type deadliner interface {
	io.ReadWriter
	SetDeadline(time.Time) error
}

func (d *Device) exchange(ctx context.Context, cmd []byte) ([]byte, error) {
	var rw deadliner = d.conn
	if d.f != nil {
		rw = d.f
	}
	dl, _ := ctx.Deadline()
	// A character device that the poller cannot watch returns ErrNoDeadline;
	// then only the kernel driver's own timeouts apply.
	if err := rw.SetDeadline(dl); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = rw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := rw.Write(cmd); err != nil {
		return nil, classifyIO(ctx, "write command", err)
	}
	var resp []byte
	var err error
	if d.f != nil {
		resp, err = readDeviceFrame(d.f)
	} else {
		resp, err = readStreamFrame(d.conn)
	}
	if err != nil {
		return nil, classifyIO(ctx, "read response", err)
	}
	return resp, nil
}

// readDeviceFrame reads from a kernel TPM device: the driver hands the whole
// response to the first read, but newer kernels also allow partial reads, so
// keep reading while the header promises more.
func readDeviceFrame(r io.Reader) ([]byte, error) {
	buf := make([]byte, 4096)
	got := 0
	for {
		if got == len(buf) {
			if len(buf) >= MaxResponse {
				return nil, fmt.Errorf("%w: response longer than %d bytes", ErrNotTPM, MaxResponse)
			}
			buf = append(buf, make([]byte, len(buf))...)
		}
		n, err := r.Read(buf[got:])
		got += n
		if got >= HeaderSize {
			size, ferr := frameSize(buf[:got])
			if ferr != nil {
				return nil, ferr
			}
			if got > size {
				return nil, fmt.Errorf("%w: %d bytes read but header says %d", ErrNotTPM, got, size)
			}
			if got == size {
				return buf[:got], nil
			}
		}
		if err != nil {
			return nil, shortFrame(buf[:got], err)
		}
		if n == 0 {
			return nil, shortFrame(buf[:got], io.ErrUnexpectedEOF)
		}
	}
}

// readStreamFrame reads one frame from a byte stream (a socket): header
// first, then exactly the size it announces.
func readStreamFrame(r io.Reader) ([]byte, error) {
	hdr := make([]byte, HeaderSize)
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, shortFrame(hdr[:n], err)
	}
	size, err := frameSize(hdr)
	if err != nil {
		return nil, err
	}
	resp := make([]byte, size)
	copy(resp, hdr)
	if n, err := io.ReadFull(r, resp[HeaderSize:]); err != nil {
		return nil, shortFrame(resp[:HeaderSize+n], err)
	}
	return resp, nil
}

func shortFrame(got []byte, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: connection ended after %d bytes of a response (%x)", ErrNotTPM, len(got), head(got))
	}
	return err
}

// Response tags TPM 1.2 (TPM_TAG_RSP_*) and 2.0 (TPM_ST_*SESSIONS) use.
var responseTags = map[uint16]bool{0x00C4: true, 0x00C5: true, 0x00C6: true, 0x8001: true, 0x8002: true}

// frameSize checks a response header and returns the frame's total size.
func frameSize(hdr []byte) (int, error) {
	tag := binary.BigEndian.Uint16(hdr[0:2])
	size := binary.BigEndian.Uint32(hdr[2:6])
	if !responseTags[tag] {
		return 0, fmt.Errorf("%w: answer starts %x, which is no TPM response tag", ErrNotTPM, head(hdr))
	}
	if size < HeaderSize || size > MaxResponse {
		return 0, fmt.Errorf("%w: response header claims %d bytes", ErrNotTPM, size)
	}
	return int(size), nil
}

func classifyIO(ctx context.Context, what string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := context.Cause(ctx); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("%s: %w", what, cerr)
		}
		return fmt.Errorf("%s: %w", what, ErrTimeout)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// classifyOpen turns an open/dial failure into one of the package errors,
// keeping the system error in the chain.
func classifyOpen(name string, err error) error {
	var kind error
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO),
		errors.Is(err, syscall.ECONNREFUSED):
		kind = ErrNoTPM
	case errors.Is(err, fs.ErrPermission):
		kind = ErrPermission
	case errors.Is(err, syscall.EBUSY):
		kind = ErrBusy
	default:
		return fmt.Errorf("open %s: %w", name, err)
	}
	return fmt.Errorf("open %s: %w: %w", name, kind, err)
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "file of mode " + m.String()
}
