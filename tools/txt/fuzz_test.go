package txt

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParseLog feeds arbitrary bytes to the scanner, parser and diagnosis.
// Besides not panicking: NUL bytes never change the result (serial
// captures are full of them), and LF vs CRLF line ends give the same
// messages.
func FuzzParseLog(f *testing.F) {
	logs, _ := filepath.Glob("testdata/*.log")
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("TBOOT: TXT.ERRORCODE: 0xTBOOT:TBOOT: checking if module"))
	f.Add([]byte("TBOOT: \t fms: 0x1, fms_mask: 0x2, platform_id: 0x3,\n platform_mask: 0xffffffffffffffffff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := scanBytes(data)
		l := ParseLines(lines)
		for i, b := range l.Boots {
			if b.Index != i+1 {
				t.Fatalf("boot %d has index %d", i+1, b.Index)
			}
			if b.FirstLine > b.LastLine {
				t.Fatalf("boot %d: lines %d-%d", b.Index, b.FirstLine, b.LastLine)
			}
		}
		d := Diagnose(l)
		if err := d.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatal(err)
		}

		noNUL := bytes.ReplaceAll(data, []byte{0}, nil)
		if !reflect.DeepEqual(lines, scanBytes(noNUL)) && !(len(lines) == 0 && len(scanBytes(noNUL)) == 0) {
			t.Fatalf("NUL bytes changed the messages")
		}
		if bytes.IndexByte(data, '\r') < 0 {
			crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			if got := scanBytes(crlf); !reflect.DeepEqual(lines, got) && !(len(lines) == 0 && len(got) == 0) {
				t.Fatalf("CRLF changed the messages:\n%+v\n%+v", lines, got)
			}
		}
	})
}
