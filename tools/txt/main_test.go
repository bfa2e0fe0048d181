package txt

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestMainDecode(t *testing.T) {
	code, out, errs := run(t, "decode", "0xc0021041", "--acm", "ivb")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"TPM NV is unlocked", "TPM Access", "Fatal and TPM specific", "SINIT module"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "decode", "--json", "0xc0021041")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if m["code"] != "0xc0021041" {
		t.Errorf("code = %v", m["code"])
	}
	code, out, _ = run(t, "decode", "--json", "0x0", "0x80000007")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Errorf("two codes: exit %d\n%s", code, out)
	}
}

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"bogus"}, {"decode"}, {"decode", "zz"}, {"decode", "--acm", "nope", "0x1"},
		{"diagnose"}, {"diagnose", "a", "b"}, {"status", "extra"}, {"decode", "--nope", "0x1"},
	} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, out, _ := run(t, "--help"); code != 0 || !strings.Contains(out, "diagnose") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "decode", "-h"); code != 0 {
		t.Errorf("decode -h: exit %d", code)
	}
}

func TestMainDiagnose(t *testing.T) {
	code, out, errs := run(t, "diagnose", "testdata/ivb-nuc-bootloop-serial.log")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "xt tpm nvlock fix") || !strings.Contains(out, "/acm_ivb.bin (line 28): MATCH") {
		t.Errorf("output:\n%s", out)
	}
	code, out, _ = run(t, "diagnose", "--json", "testdata/seed-ivb-nuc-excerpts.log")
	var d Diagnosis
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.Boots[0].MatchedACM != "/acm_ivb.bin" {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "diagnose", "testdata/does-not-exist.log"); code != 1 {
		t.Errorf("missing file: exit %d", code)
	}
}
