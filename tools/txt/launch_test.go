package txt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tboot prints its banner again in the post-launch run, right before
// "SINIT ACM successfully returned...": that is one healthy boot, not a
// reset after SENTER (tboot/common/tboot.c begin_launch).
func TestPostLaunchBannerIsNotAReboot(t *testing.T) {
	d := diagnoseFile(t, "launch-ok-postlaunch.log")
	if len(d.Boots) != 1 {
		t.Fatalf("boots = %d, want 1 (post-launch run folded into the boot): %+v", len(d.Boots), d.Boots)
	}
	b := d.Boots[0]
	if d.Problem || b.Rebooted || !b.Launched || !b.HandedOff || b.PostLaunchLine != 35 {
		t.Errorf("problem=%v rebooted=%v launched=%v handed off=%v post-launch line %d; findings %q", d.Problem, b.Rebooted, b.Launched, b.HandedOff, b.PostLaunchLine, d.Findings)
	}
	if !strings.Contains(b.Launch, "handed control to the kernel") {
		t.Errorf("launch = %q", b.Launch)
	}
	if b.TPMFamily != "2.0" || !b.NVLockedNA || b.NVLocked != nil {
		t.Errorf("TPM family %q, nv_locked n/a %v", b.TPMFamily, b.NVLockedNA)
	}
	if len(b.Errors) != 2 || !b.Errors[0].Previous || b.Errors[1].Previous || b.Errors[1].ForBoot != 1 {
		t.Errorf("errors: %+v", b.Errors)
	}
	if !hasFinding(d, "measured launch succeeded") {
		t.Errorf("findings %q", d.Findings)
	}
}

// Several boots: a failed SENTER (reset, no success line, next boot shows
// the code) followed by a healthy launch with its post-launch banner.
func TestFailedThenHealthyBoot(t *testing.T) {
	fail := strings.Join([]string{
		"TBOOT: *********************** TBOOT ***********************",
		"TBOOT:    2021-06-14 14:15 +0200 1.10.2",
		"TBOOT: command line: logging=serial",
		"TBOOT: CPU is ready for SENTER",
		"TBOOT: executing GETSEC[SENTER]...",
		"",
	}, "\n")
	ok, err := readTestdata("launch-ok-postlaunch.log")
	if err != nil {
		t.Fatal(err)
	}
	ok = strings.Replace(ok, "TXT.ERRORCODE: 0x0\n", "TXT.ERRORCODE: 0xc0021041\n", 1)
	d := diagnoseString(t, fail+ok)
	if len(d.Boots) != 2 {
		t.Fatalf("boots = %d, want 2", len(d.Boots))
	}
	if !d.Boots[0].Rebooted || d.Boots[1].Rebooted || !d.Boots[1].Launched {
		t.Errorf("boot 1 rebooted=%v, boot 2 rebooted=%v launched=%v", d.Boots[0].Rebooted, d.Boots[1].Rebooted, d.Boots[1].Launched)
	}
	if e := d.Boots[1].Errors[0]; e.ForBoot != 1 || !e.Previous {
		t.Errorf("boot 2's pre-launch code should be boot 1's: %+v", e)
	}
}

func readTestdata(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	return string(b), err
}

func diagnoseString(t *testing.T, log string) *Diagnosis {
	t.Helper()
	d, err := DiagnoseLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
