package device

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"
)

func TestOpenClassifiesErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A socket file nobody listens on any more: connect is refused.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	for _, tc := range []struct {
		name, device string
		want         error
	}{
		{"missing device", filepath.Join(dir, "tpm0"), ErrNoTPM},
		{"missing socket", "unix:" + filepath.Join(dir, "none.sock"), ErrNoTPM},
		{"nobody listening", "unix:" + stale, ErrNoTPM},
		{"socket path without unix: prefix", stale, ErrNoTPM},
		{"regular file", regular, ErrNotTPM},
		{"directory", dir, ErrNotTPM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(context.Background(), tc.device, Options{})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Open(%s) = %v, want %v", tc.device, err, tc.want)
			}
		})
	}
}

// TestOpenCharDevice opens a character device that is no TPM (/dev/null):
// Open must accept it (it cannot tell), and the empty answer must then be
// reported as not a TPM rather than hang or crash.
func TestOpenCharDevice(t *testing.T) {
	d, err := Open(context.Background(), "/dev/null", Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Transmit(context.Background(), command())
	if !errors.Is(err, ErrNotTPM) {
		t.Errorf("Transmit to /dev/null = %v, want ErrNotTPM", err)
	}
}

// command is a TPM 1.2 TPM_GetCapability frame; its content does not
// matter to the stand-in servers below.
func command() []byte {
	b := []byte{0x00, 0xC1, 0, 0, 0, 18, 0, 0, 0, 0x65}
	b = binary.BigEndian.AppendUint32(b, 0x1A)
	return binary.BigEndian.AppendUint32(b, 0)
}

func frame(tag uint16, rc uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, tag)
	b = binary.BigEndian.AppendUint32(b, uint32(HeaderSize+len(body)))
	b = binary.BigEndian.AppendUint32(b, rc)
	return append(b, body...)
}

// standInServer is a Unix-socket peer that is not a TPM: for each
// connection it reads one command and then does what answer says.
func standInServer(t *testing.T, answer func(c net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			if _, err := c.Read(buf); err == nil {
				answer(c)
			}
			c.Close()
		}
	}()
	return "unix:" + sock
}

func TestTransmitRejectsGarbage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer []byte
	}{
		{"http", []byte("HTTP/1.0 400 Bad Request\r\n\r\n")},
		{"unknown tag", frame(0x1234, 0, nil)},
		{"size below header", append(frame(0x00C4, 0, nil)[:2], 0, 0, 0, 4, 0, 0, 0, 0)},
		{"size beyond limit", append(frame(0x00C4, 0, nil)[:2], 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0)},
		{"truncated body", frame(0x00C4, 0, make([]byte, 20))[:HeaderSize+5]},
		{"short header", []byte{0x00, 0xC4, 0x00}},
		{"nothing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := standInServer(t, func(c net.Conn) { c.Write(tc.answer) })
			d, err := Open(context.Background(), dev, Options{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = d.Transmit(context.Background(), command())
			if !errors.Is(err, ErrNotTPM) {
				t.Fatalf("Transmit = %v, want ErrNotTPM", err)
			}
			// The exchange is out of step now; the device refuses more.
			if _, err2 := d.Transmit(context.Background(), command()); err2 == nil {
				t.Error("second Transmit after a bad frame succeeded")
			}
		})
	}
}

func TestTransmitTimeoutAndCancel(t *testing.T) {
	dev := standInServer(t, func(c net.Conn) { time.Sleep(600 * time.Millisecond) })

	d, err := Open(context.Background(), dev, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Transmit(context.Background(), command())
	d.Close()
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Transmit = %v, want ErrTimeout", err)
	}

	d, err = Open(context.Background(), dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = d.Transmit(ctx, command())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Transmit after cancel = %v, want context.Canceled", err)
	}
	if time.Since(start) > 400*time.Millisecond {
		t.Errorf("cancel took %v", time.Since(start))
	}
}

func TestTransmitWholeFrame(t *testing.T) {
	want := frame(0x00C4, 0, bytes.Repeat([]byte{7}, 300))
	// The answer arrives in dribbles; the frame must still come back whole.
	dev := standInServer(t, func(c net.Conn) {
		for i := 0; i < len(want); i += 7 {
			c.Write(want[i:min(i+7, len(want))])
			time.Sleep(time.Millisecond)
		}
	})
	d, err := Open(context.Background(), dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Transmit(context.Background(), command())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %d bytes, want %d", len(got), len(want))
	}
}

func TestReadDeviceFrame(t *testing.T) {
	big := frame(0x8001, 0, bytes.Repeat([]byte{1}, 5000))
	for _, tc := range []struct {
		name    string
		r       io.Reader
		want    []byte
		wantErr error
	}{
		{"whole", bytes.NewReader(big), big, nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(big)), big, nil},
		{"longer than header says", bytes.NewReader(append(frame(0x00C4, 0, nil), 1, 2)), nil, ErrNotTPM},
		{"ends early", bytes.NewReader(big[:100]), nil, ErrNotTPM},
		{"bad tag", bytes.NewReader(frame(0xC4C4, 0, nil)), nil, ErrNotTPM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readDeviceFrame(tc.r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

func FuzzFrames(f *testing.F) {
	f.Add(frame(0x00C4, 0, []byte{1, 2, 3}))
	f.Add(frame(0x8001, 0x100, nil))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, errA := readDeviceFrame(iotest.HalfReader(bytes.NewReader(b)))
		s, errS := readStreamFrame(bytes.NewReader(b))
		if errS == nil {
			if size, _ := frameSize(s); size != len(s) {
				t.Fatalf("stream frame of %d bytes, header says %d", len(s), size)
			}
		}
		if errA == nil && len(a) != len(b) {
			t.Fatalf("device frame of %d bytes from %d bytes of input", len(a), len(b))
		}
	})
}
