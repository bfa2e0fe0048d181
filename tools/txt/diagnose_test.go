package txt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func diagnoseFile(t *testing.T, name string) *Diagnosis {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := DiagnoseLog(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func hasFinding(d *Diagnosis, sub string) bool {
	for _, f := range d.Findings {
		if strings.Contains(f, sub) {
			return true
		}
	}
	return false
}

func hasStep(d *Diagnosis, sub string) bool {
	for _, s := range d.NextSteps {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// The seed post's own excerpts: the HSW ACM fails on chipset id, the IVB
// ACM matches, and the TPM's NV RAM is unlocked.
func TestDiagnoseSeedExcerpts(t *testing.T) {
	d := diagnoseFile(t, "seed-ivb-nuc-excerpts.log")
	if len(d.Boots) != 1 {
		t.Fatalf("boots = %d, want 1", len(d.Boots))
	}
	b := d.Boots[0]
	if len(b.ACMs) != 2 {
		t.Fatalf("ACMs = %+v", b.ACMs)
	}
	hsw, ivb := b.ACMs[0], b.ACMs[1]
	if hsw.Module != "/acm_hsw.bin" || hsw.Match || !hsw.Decided || !strings.Contains(hsw.Reason, "chipset id mismatch") || !strings.Contains(hsw.Reason, "8086:b002") {
		t.Errorf("hsw = %+v", hsw)
	}
	if ivb.Module != "/acm_ivb.bin" || !ivb.Match || !strings.Contains(ivb.Reason, "processor entry 3") {
		t.Errorf("ivb = %+v", ivb)
	}
	if b.MatchedACM != "/acm_ivb.bin" {
		t.Errorf("matched = %q", b.MatchedACM)
	}
	if b.NVLocked == nil || *b.NVLocked {
		t.Errorf("nv_locked = %v, want FALSE", b.NVLocked)
	}
	if b.TPMFamily != "1.2" {
		t.Errorf("TPM family %q", b.TPMFamily)
	}
	if !d.Problem || !hasFinding(d, "NV RAM is not locked") || !hasStep(d, "xt tpm nvlock fix") {
		t.Errorf("diagnosis = %+v", d)
	}
}

// After the fix the seed shows nv_locked TRUE: no NV finding any more.
func TestDiagnoseSeedAfterFix(t *testing.T) {
	d := diagnoseFile(t, "seed-ivb-nuc-nv-locked.log")
	if hasFinding(d, "NV RAM") || hasStep(d, "nvlock fix") {
		t.Errorf("locked TPM still diagnosed as unlocked: %+v", d)
	}
	if b := d.Boots[0]; b.NVLocked == nil || !*b.NVLocked {
		t.Errorf("nv_locked = %v", b.NVLocked)
	}
}

// The same excerpts as a raw serial capture delivers them (CRLF, NUL after
// the prefix, console noise, a wrapped line) give the same diagnosis.
func TestDiagnoseSeedExcerptsRawSerial(t *testing.T) {
	raw, err := os.ReadFile("testdata/seed-ivb-nuc-excerpts.log")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "TBOOT: ", "TBOOT: \x00")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	s = "\x1b[2J\x00garbage from grub\r\n" + s + "Linux version 6.1 ...\r\n"
	d, err := DiagnoseLog(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	plain := diagnoseFile(t, "seed-ivb-nuc-excerpts.log")
	// One noise line was put in front: line numbers move by one, nothing else.
	for i := range d.Boots[0].ACMs {
		d.Boots[0].ACMs[i].Line--
	}
	if got, want := mustJSON(t, d.Boots[0].ACMs), mustJSON(t, plain.Boots[0].ACMs); got != want {
		t.Errorf("ACM reports differ:\n%s\n%s", got, want)
	}
	if !hasStep(d, "xt tpm nvlock fix") {
		t.Errorf("raw capture lost the NV diagnosis: %+v", d)
	}
}

func TestDiagnoseBootLoop(t *testing.T) {
	d := diagnoseFile(t, "ivb-nuc-bootloop-serial.log")
	if len(d.Boots) != 3 {
		t.Fatalf("boots = %d, want 3", len(d.Boots))
	}
	b1, b2 := d.Boots[0], d.Boots[1]
	if !b1.SENTER || !b1.Rebooted || b1.Launched {
		t.Errorf("boot 1: senter %v rebooted %v launched %v", b1.SENTER, b1.Rebooted, b1.Launched)
	}
	if len(b2.Errors) != 1 || b2.Errors[0].Decoded.Code != 0xc0021041 || b2.Errors[0].ForBoot != 1 {
		t.Fatalf("boot 2 errors = %+v", b2.Errors)
	}
	// The ERRORCODE is decoded with the table of the ACM that matched.
	dec := b2.Errors[0].Decoded
	if dec.ACM != "ivb" {
		t.Errorf("table %q, want ivb", dec.ACM)
	}
	if f, _ := dec.Field("major"); f.Meaning != "TPM NV is unlocked" {
		t.Errorf("major meaning %q", f.Meaning)
	}
	if b2.LastBootError == nil || !*b2.LastBootError {
		t.Errorf("last boot error = %v", b2.LastBootError)
	}
	if !hasFinding(d, "boots 1, 2: SENTER failed and the machine rebooted") {
		t.Errorf("findings = %q", d.Findings)
	}
	if !hasFinding(d, "boots 2, 3: TXT.ERRORCODE 0xc0021041") {
		t.Errorf("findings = %q", d.Findings)
	}
	if len(d.NextSteps) != 1 || !strings.Contains(d.NextSteps[0], "xt tpm nvlock fix") {
		t.Errorf("next steps = %q", d.NextSteps)
	}
	// The third boot is cut off mid ACM list: no verdict claimed.
	b3 := d.Boots[2]
	if n := len(b3.ACMs); n != 1 || b3.ACMs[0].Decided {
		t.Errorf("boot 3 ACMs = %+v", b3.ACMs)
	}
}

func TestDiagnoseOtherBoards(t *testing.T) {
	tests := []struct {
		file     string
		boots    int
		problem  bool
		findings []string
		steps    []string
	}{
		{"kbl-tpm2-no-sinit.log", 1, true,
			[]string{"no SINIT ACM matched this platform (chipset 8086:b006 rev 0x1, processor fms 0x906e9"},
			[]string{"add the SINIT ACM made for this platform"}},
		{"skl-acm-auth-failure.log", 2, true,
			[]string{"boot 1: SENTER failed", "boot 2: TXT.ERRORCODE 0x80000007: processor error 0x7: ACM authentication failure"},
			[]string{"the processor rejected the SINIT itself"}},
		{"adl-ptt-launch-ok.log", 1, false, []string{"measured launch succeeded"}, nil},
		{"txt-reset-sts.log", 1, true, []string{"TXT_RESET.STS is set"}, []string{"power the machine off completely", "class 0x5, major 0x1c"}},
		{"bdw-pmr-glued-truncated.log", 2, true,
			[]string{"boot 1: TXT.ERRORCODE 0xc0033451", "invalid PMR configuration", "value cut off"},
			[]string{"the bdw table names this code: invalid PMR configuration"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := diagnoseFile(t, tt.file)
			if len(d.Boots) != tt.boots {
				t.Fatalf("boots = %d, want %d", len(d.Boots), tt.boots)
			}
			if d.Problem != tt.problem {
				t.Errorf("problem = %v, want %v", d.Problem, tt.problem)
			}
			for _, f := range tt.findings {
				if !hasFinding(d, f) {
					t.Errorf("no finding %q in %q", f, d.Findings)
				}
			}
			for _, s := range tt.steps {
				if !hasStep(d, s) {
					t.Errorf("no step %q in %q", s, d.NextSteps)
				}
			}
			if hasStep(d, "nvlock") {
				t.Errorf("NV step where the log shows no NV problem: %q", d.NextSteps)
			}
		})
	}
}

// Wrapped fms lines (a mailer broke them after a comma) still give the
// platform_mask, so the processor mismatch is explained.
func TestDiagnoseWrappedLines(t *testing.T) {
	l := mustParse(t, "kbl-tpm2-no-sinit.log")
	a := l.Boots[0].ACMs[1]
	if len(a.Processors) != 2 || a.Processors[1].FMS != 0x506e0 || a.Processors[1].FMSMask != 0xfff3ff0 {
		t.Fatalf("processors = %+v", a.Processors)
	}
	if len(a.Warnings) != 0 || len(l.Boots[0].ACMs[0].Warnings) != 1 {
		t.Errorf("warnings: %q / %q", l.Boots[0].ACMs[0].Warnings, a.Warnings)
	}
}

func mustParse(t *testing.T, name string) *Log {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ParseLog(f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDiagnoseNoTbootLines(t *testing.T) {
	d, err := DiagnoseLog(strings.NewReader("Linux version 6.1\nlogin: \n"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Problem || len(d.Boots) != 0 || !hasStep(d, "xt serial find") {
		t.Errorf("diagnosis = %+v", d)
	}
}

func TestEvaluateRevisionRules(t *testing.T) {
	p := Platform{ChipsetKnown: true, Vendor: 0x8086, Device: 0xb001, Revision: 0x2}
	tests := []struct {
		c    ChipsetID
		want bool
	}{
		{ChipsetID{0x8086, 0xb001, 0, 0x2}, true},   // exact revision
		{ChipsetID{0x8086, 0xb001, 0, 0x3}, false},  // exact, differs
		{ChipsetID{0x8086, 0xb001, 1, 0x3}, true},   // mask shares bit 1
		{ChipsetID{0x8086, 0xb001, 1, 0x1}, false},  // mask shares nothing
		{ChipsetID{0x8086, 0xb002, 1, 0xff}, false}, // other device
		{ChipsetID{0x1022, 0xb001, 1, 0xff}, false}, // other vendor
	}
	for _, tt := range tests {
		if got := ChipsetMatches(p, tt.c); got != tt.want {
			t.Errorf("ChipsetMatches(%+v) = %v", tt.c, got)
		}
	}
	p.FMS, p.PlatformID = 0x306a9, 0x10000000000000
	if !ProcessorMatches(p, ProcessorID{0x306a0, 0xfff3ff0, 0x10000000000000, 0x1c000000000000}) {
		t.Error("IVB entry should match")
	}
	if ProcessorMatches(p, ProcessorID{0x206a0, 0xfff3ff0, 0x10000000000000, 0x1c000000000000}) {
		t.Error("SNB entry should not match an IVB CPU")
	}
	if ProcessorMatches(p, ProcessorID{0x306a0, 0xfff3ff0, 0x4000000000000, 0x1c000000000000}) {
		t.Error("other platform id should not match")
	}
}

// Golden reports for every fixture, text and JSON.
func TestDiagnoseGolden(t *testing.T) {
	logs, err := filepath.Glob("testdata/*.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range logs {
		name := strings.TrimSuffix(filepath.Base(p), ".log")
		t.Run(name, func(t *testing.T) {
			d := diagnoseFile(t, filepath.Base(p))
			var txt bytes.Buffer
			if err := d.WriteText(&txt); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", name+".txt"), txt.Bytes())
			golden(t, filepath.Join("testdata", "golden", name+".json"), []byte(mustJSON(t, d)+"\n"))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeFileAtomic(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
