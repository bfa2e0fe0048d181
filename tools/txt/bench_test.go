package txt

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkDiagnoseBootLoop measures a long reboot-loop capture: the NUC's
// serial log repeated to 200 boots (about 340 KB), CRLF and NULs included.
// Compare with `grep -a -c TXT.ERRORCODE` on the same file (see
// docs/performance.md, "TXT tools").
func BenchmarkDiagnoseBootLoop(b *testing.B) {
	one, err := os.ReadFile("testdata/ivb-nuc-bootloop-serial.log")
	if err != nil {
		b.Fatal(err)
	}
	log := bytes.Repeat(one, 67)
	if path := os.Getenv("XT_BENCH_WRITE"); path != "" {
		if err := os.WriteFile(path, log, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d, err := DiagnoseLog(bytes.NewReader(log))
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Boots) < 200 {
			b.Fatalf("boots = %d", len(d.Boots))
		}
	}
}
