package txt

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckDump(t *testing.T) {
	good := ivbAfterFailure()
	full := make([]byte, PublicSpaceSize)
	copy(full, good)
	wrongVendor := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(wrongVendor[RegDIDVID:], 0x000000011234abcd)
	unaligned := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(unaligned[RegHeapBase:], 0xdff20010)
	random := bytes.Repeat([]byte{0x5a, 0x00, 0x13, 0x99, 0xfe, 0x01, 0x77, 0x42}, StatusSize/8)
	for _, tc := range []struct {
		name string
		raw  []byte
		want string // "" = plausible
	}{
		{"ivb page", good, ""},
		{"whole 64 KiB space", full, ""},
		{"all ones (no TXT)", bytes.Repeat([]byte{0xff}, StatusSize), ""},
		{"short", good[:0x100], "needs at least"},
		{"too big", make([]byte, 2*PublicSpaceSize), "more than the 64 KiB"},
		{"zeros", make([]byte, StatusSize), "every byte is zero"},
		{"a tboot log", bytes.Repeat([]byte("TBOOT: TXT.ERRORCODE: 0xc0021041\n"), 100), "is text"},
		{"wrong vendor", wrongVendor, "vendor 0x abcd"},
		{"random bytes", random, "vendor"},
		{"unaligned heap", unaligned, "HEAP.BASE"},
	} {
		err := CheckDump(tc.raw)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(tc.want, "0x abcd", "0xabcd"))):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestMainStatusRefusesImplausibleDump(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tboot.log")
	if err := os.WriteFile(path, bytes.Repeat([]byte("TBOOT: hello\n"), 300), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"status", "--dump", path}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "xt txt diagnose") || stdout.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
