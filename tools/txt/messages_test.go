package txt

import (
	"io"
	"strings"
	"testing"
)

// pre is the start of a boot as every tboot since 1.7 logs it.
const pre = "TBOOT: *********************** TBOOT ***********************\n" +
	"TBOOT:    2021-06-14 14:15 +0200 1.10.2\n" +
	"TBOOT: *****************************************************\n" +
	"TBOOT: command line: logging=serial loglvl=all\n"

// TestMessageClasses feeds each decisive message, written from tboot's own
// printk format strings (tboot/common/tboot.c, tb_error.c, policy.c,
// tpm*.c; tboot/txt/verify.c, acmod.c, errors.c), and checks the verdict.
func TestMessageClasses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lines  []string
		id     string
		blocks bool
		step   string // substring of a next step
		noStep string // a step that must not be given
	}{
		{"no SMX", []string{"ERR: CPU does not support SMX", "SMX not supported."}, "no-smx", true, "cannot do a measured launch", "module2"},
		{"no TXT chipset", []string{"ERR: TXT-capable chipset not present", "TXT not supported."}, "no-txt-chipset", true, "cannot do a measured launch", "module2"},
		{"SENTER disabled", []string{"ERR: SENTER disabled by feature control MSR (5)", "TXT not supported."}, "senter-disabled", true, "enable Intel TXT", ""},
		{"feature control unlocked", []string{"ERR: IA32_FEATURE_CONTROL_MSR_LOCK is not locked"}, "feature-control-unlocked", true, "enable Intel TXT", ""},
		{"VMX disabled", []string{"ERR: VMXON disabled by feature control MSR (1)"}, "vmx-disabled", true, "VT-x", ""},
		{"VT-d", []string{"DMAR table not found. Check if Vt-D is enabled in BIOS."}, "vtd-disabled", true, "VT-d", ""},
		{"SINIT not provided", []string{"SINIT ACM not provided."}, "sinit-not-provided", true, "module2", ""},
		{"BIOS SINIT region too small", []string{"BIOS-reserved SINIT size (10000) is too small for loaded SINIT (30000)"}, "bios-sinit-region-small", true, "reserves more", ""},
		{"using BIOS SINIT", []string{"BIOS has already loaded an SINIT module", "no SINIT provided by bootloader; using BIOS SINIT"}, "using-bios-sinit", false, "newest SINIT", ""},
		{"ACM verify failed", []string{"verifying AC module failed."}, "acm-verify-failed", true, "sha256", ""},
		{"client/server", []string{"Error: Non-client ACM on client platform"}, "acm-client-server", true, "module2", ""},
		{"TPM 1.2 not available", []string{"TPM is not available."}, "tpm-not-present", true, "enable the TPM", ""},
		{"TPM access reg", []string{"TPM: Access reg not valid", "TPM not ready."}, "tpm-not-present", true, "enable the TPM", ""},
		{"TPM locality", []string{"TPM: FIFO_INF Locality 0 is not open", "TPM not ready."}, "tpm-not-ready", true, "clear the TPM", ""},
		{"TPM CRB locality", []string{"TPM: CRB_INF Locality 0 request failed..."}, "tpm-not-ready", true, "", ""},
		{"TPM disabled", []string{"TPM is disabled."}, "tpm-disabled", true, "activate the TPM", ""},
		{"TPM deactivated", []string{"TPM is deactivated."}, "tpm-disabled", true, "activate the TPM", ""},
		{"previous error", []string{"TXT.ERRORCODE: 0xc0021041", "previous measured launch had errors, skipping measured launch..."}, "prev-txt-error", true, "ignore_prev_err", ""},
		{"VLP", []string{"verifying module \"/vmlinuz\"...", "\t verification failed", "verifying module against policy failed."}, "vlp-failed", true, "tb_polgen", ""},
		{"post-launch", []string{"txt_post_launch_verify_platform: Failed to verify saved MTRRs", "verification of post-launch failed."}, "post-launch-failed", true, "MTRR", ""},
		{"double AUX", []string{"Nothing to do: double AUX index is not valid TXT configuration."}, "tpm-double-aux", true, "AUX", ""},
		{"AUX attributes", []string{"Nothing to do: invalid AUX index attributes."}, "aux-invalid", true, "platform hierarchy", ""},
		{"PO attributes", []string{"Error: invalid PO index attributes."}, "po-invalid", true, "owner authorisation", ""},
		{"AUX missing", []string{"TPM: fail to get public data of 0x01C10102 in TPM NV"}, "nv-missing", false, "AUX index", ""},
		{"PS missing", []string{"TPM: fail to get public data of 0x01C10103 in TPM NV"}, "nv-missing", false, "PS (platform supplier)", ""},
		{"PO unreadable", []string{"TPM: read NV index 1c10106 from offset 00000000, return value = 0000018B"}, "nv-unreadable", false, "PO (platform owner)", ""},
		{"1.2 policy read error", []string{"Error: read TPM error: 0x2 from index 40000001."}, "nv-unreadable", false, "PO (platform owner)", ""},
		{"LCP", []string{"TXT.ERRORCODE: 0xc0a1c101", "AC module error : acm_type=0x1, progress=0x10, error=0x7", "LCP2 error:  minor error = 0x1c, index = 0"}, "lcp-failed", true, "lcp2_mlehash", ""},
		{"fatal", []string{"generic fatal error."}, "fatal", true, "loglvl=all", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := pre
			for _, l := range tc.lines {
				log += "TBOOT: " + l + "\n"
			}
			d := diagnoseString(t, log)
			if len(d.Boots) != 1 {
				t.Fatalf("boots %d", len(d.Boots))
			}
			var ev *Event
			for i, e := range d.Boots[0].Events {
				if e.ID == tc.id {
					ev = &d.Boots[0].Events[i]
				}
			}
			if ev == nil {
				t.Fatalf("no %s event in %+v", tc.id, d.Boots[0].Events)
			}
			if _, _, blocks := eventFinding(*ev); blocks != tc.blocks {
				t.Errorf("blocks = %v, want %v", blocks, tc.blocks)
			}
			if tc.blocks && !d.Problem {
				t.Errorf("not a problem: %+v", d.Findings)
			}
			if tc.step != "" && !hasStep(d, tc.step) {
				t.Errorf("no step containing %q: %q", tc.step, d.NextSteps)
			}
			if tc.noStep != "" && hasStep(d, tc.noStep) {
				t.Errorf("step mentions %q, must not: %q", tc.noStep, d.NextSteps)
			}
			if tc.blocks && !strings.Contains(d.Boots[0].Launch, "no measured launch") {
				t.Errorf("launch = %q", d.Boots[0].Launch)
			}
		})
	}
}

// TPM family lines of every tboot version.
func TestTPMFamilyLines(t *testing.T) {
	for line, want := range map[string]string{
		"TPM: TPM Family 0x0":                    "1.2", // 1.7-1.8
		"TPM: TPM Family 0x1":                    "2.0",
		"TPM: discrete TPM1.2 Family 0x0":        "1.2", // 1.9-1.10
		"TPM: discrete TPM2.0 Family 0x1":        "2.0",
		"TPM: discrete TPM2.0 Family 0x2":        "2.0", // CRB interface
		"TPM: This is Intel PTT, TPM Family 0x2": "2.0 (Intel PTT)",
		"TPM: This is Intel PTT, TPM Family 0x1": "2.0 (Intel PTT)",
	} {
		d := diagnoseString(t, pre+"TBOOT: "+line+"\n")
		b := d.Boots[0]
		if b.TPMFamily != want {
			t.Errorf("%q: family %q, want %q", line, b.TPMFamily, want)
		}
		if b.NVLockedNA != strings.HasPrefix(want, "2.0") {
			t.Errorf("%q: nv_locked not applicable = %v", line, b.NVLockedNA)
		}
	}
}

// A capture as people paste it: CRLF, tabs, serial noise, a mailer's hard
// wraps (continuations without the prefix), kernel lines in between.
func TestRealWorldCapture(t *testing.T) {
	log := "\x00\x00garbage\x1b[0m\r\n" +
		"TBOOT: *********************** TBOOT ***********************\r\n" +
		"TBOOT:    2014-07-28 10:00 +0800 1.8.2\r\n" +
		"TBOOT: command line: logging=serial,vga,memory serial=115200,8n1,0xe030 loglvl=all\r\n" +
		"TBOOT: BIOS-reserved SINIT size (10000) is too small for loaded\r\n" +
		"SINIT (30000)\r\n" +
		"[    1.234567] random kernel noise\r\n" +
		"TBOOT: TPM: TPM Family 0x0\r\n" +
		"TBOOT:\tTPM is ready\r\n" +
		"TBOOT: TPM nv_locked: TRUE\r\n"
	d := diagnoseString(t, log)
	b := d.Boots[0]
	if b.Version != "1.8.2" || b.TPMFamily != "1.2" || b.NVLocked == nil || !*b.NVLocked {
		t.Errorf("boot %+v", b)
	}
	found := false
	for _, e := range b.Events {
		found = found || (e.ID == "bios-sinit-region-small" && strings.HasSuffix(e.Text, "loaded SINIT (30000)"))
	}
	if !found {
		t.Errorf("wrapped message not joined: %+v", b.Events)
	}
}

// txt-stat output: register dump, then the memory log. On a platform whose
// log says it cannot do TXT, "TXT measured launch: TRUE" is all-ones
// register space and must not be believed.
func TestTxtStatNoTXT(t *testing.T) {
	stat := "Intel(r) TXT Configuration Registers:\n" +
		"\tSTS: 0xffffffff\n\t    senter_done: TRUE\n" +
		"\tESTS: 0xff\n\t    txt_reset: TRUE\n" +
		"\tERRORCODE: 0xffffffff\n" +
		"\tDIDVID: 0xffffffffffffffff\n" +
		"***********************************************************\n" +
		"\t TXT measured launch: TRUE\n" +
		"\t secrets flag set: TRUE\n" +
		"***********************************************************\n" +
		"TBOOT log:\n\t max_size=7ff8\n\t zip_count=0\n\t curr_pos=1234\n\t buf:\n" +
		pre + "TBOOT: ERR: CPU does not support SMX\nTBOOT: SMX not supported.\nTBOOT: transfering control to kernel @0x1000000...\n"
	d := diagnoseString(t, stat)
	if !d.Problem || !hasFinding(d, "not to be trusted") || !hasFinding(d, "does not support SMX") {
		t.Errorf("findings %q", d.Findings)
	}
	if hasStep(d, "module2") || hasStep(d, "pass the") {
		t.Errorf("ACM advice on a CPU without SMX: %q", d.NextSteps)
	}
	if !strings.Contains(d.Boots[0].Launch, "without TXT") {
		t.Errorf("launch %q", d.Boots[0].Launch)
	}
}

// noiseReader yields n bytes of kernel-like noise lines, then a tboot
// boot; it lets the test stream more than 64 MiB without holding it.
type noiseReader struct {
	left int
	tail *strings.Reader
	line string
	off  int
}

func (r *noiseReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return r.tail.Read(p)
	}
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.left -= c
		r.off = (r.off + c) % len(r.line)
	}
	return n, nil
}

// Captures over 64 MiB are streamed, not refused.
func TestLargeCaptureStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 65 MiB; skipped with -short")
	}
	r := &noiseReader{left: 65 << 20, line: "[  123.456789] usb 1-1: noise noise noise noise noise noise\n",
		tail: strings.NewReader(pre + "TBOOT: TPM: discrete TPM1.2 Family 0x0\nTBOOT: TPM nv_locked: FALSE\n")}
	d, err := DiagnoseLog(io.Reader(r))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Boots) != 1 || !hasStep(d, "xt tpm nvlock fix") {
		t.Errorf("diagnosis %+v", d)
	}
}
