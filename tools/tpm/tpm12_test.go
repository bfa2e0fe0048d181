package tpm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpmutil"

	"github.com/xtbuild/xtbuild/tools/tpm/internal/swtpmtest"
)

// TestTPM12Version reads a fresh swtpm 1.2 through the CLI.
func TestTPM12Version(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{})
	r := runCLI(t, "", "version", "--device", s.Device).mustCode(t, ExitOK)
	golden(t, "tpm12_version.txt", r.stdout)

	var rep versionReport
	runCLI(t, "", "--device", s.Device, "version", "--json").mustCode(t, ExitOK).decode(t, &rep)
	if rep.Family != Family12 || rep.TPM12 == nil || rep.TPM20 != nil {
		t.Fatalf("family %q, tpm12 %v, tpm20 %v; want 1.2 only", rep.Family, rep.TPM12, rep.TPM20)
	}
	v := rep.TPM12
	// swtpm (libtpms) reports 1.2 rev 0x12.0x9E, spec level 2, errata 3, "IBM\0".
	if v.ChipVersion != "1.2.18.158" || v.SpecLevel != 2 || v.ErrataRevision != 3 || v.VendorID != "IBM" ||
		v.TPMVersion.String() != "01010000" || v.Manufacturer.String() != "49424d00" {
		t.Errorf("version = %+v", v)
	}
	if !v.Enabled || !v.Activated || v.Owned || v.NVLocked {
		t.Errorf("fresh swtpm state = %+v, want enabled, activated, unowned, NV unlocked", v.State12)
	}
}

// TestTPM12NVLockFlow is the seed's NUC story: NV shipped unlocked, fixed
// by defining TPM_NV_INDEX_LOCK, and the fix confirmed.
func TestTPM12NVLockFlow(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{})
	dev := []string{"--device", s.Device}

	r := runCLI(t, "", append([]string{"nvlock", "check"}, dev...)...).mustCode(t, ExitUnlocked)
	golden(t, "tpm12_nvlock_check_unlocked.txt", strings.ReplaceAll(r.stdout, s.Device, "DEVICE"))
	var chk nvlockReport
	runCLI(t, "", append([]string{"nvlock", "check", "--json"}, dev...)...).mustCode(t, ExitUnlocked).decode(t, &chk)
	if chk.Status != StatusUnlocked || chk.NVLocked || chk.State == nil || !chk.State.Enabled {
		t.Fatalf("check report = %+v", chk)
	}

	// Answering anything but "yes" sends nothing.
	r = runCLI(t, "no\n", append([]string{"nvlock", "fix"}, dev...)...).mustCode(t, ExitFailure)
	if !strings.Contains(r.stdout, `Type "yes"`) || !strings.Contains(r.stderr, "nothing was sent") {
		t.Errorf("declined fix: stdout %q stderr %q", r.stdout, r.stderr)
	}
	runCLI(t, "", append([]string{"nvlock", "check"}, dev...)...).mustCode(t, ExitUnlocked)

	r = runCLI(t, "yes\n", append([]string{"nvlock", "fix"}, dev...)...).mustCode(t, ExitOK)
	golden(t, "tpm12_nvlock_fix.txt", strings.ReplaceAll(r.stdout, s.Device, "DEVICE"))

	r = runCLI(t, "", append([]string{"nvlock", "check"}, dev...)...).mustCode(t, ExitOK)
	golden(t, "tpm12_nvlock_check_locked.txt", r.stdout)

	// The lock is real: an unauthenticated define is now refused with
	// TPM_BAD_PRESENCE, where before the lock it would have succeeded.
	d := openDev(t, s)
	err := NewTPM12(d).defineSpaceUnauth(context.Background(),
		&NVIndex12{Index: 0x00011002, ReadPCRs: NoPCRs(), WritePCRs: NoPCRs(), Size: 16})
	var rc *RCError
	if !errors.As(err, &rc) || rc.Code != rcBadPresence {
		t.Errorf("define after lock: %v, want TPM_BAD_PRESENCE", err)
	}
	d.Close()

	// Refuses when locked, with JSON saying why, and changes nothing.
	var fail errorReport
	r = runCLI(t, "", append([]string{"nvlock", "fix", "--yes", "--json"}, dev...)...).mustCode(t, ExitFailure)
	r.decode(t, &fail)
	if fail.Kind != "already-locked" || !strings.Contains(r.stderr, "refusing") {
		t.Errorf("fix when locked: %+v\n%s", fail, r.stderr)
	}
}

// TestTPM12FixJSON runs the non-interactive fix scripts would use.
func TestTPM12FixJSON(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{})
	var rep nvlockReport
	r := runCLI(t, "", "--json", "--device", s.Device, "nvlock", "fix", "--yes").mustCode(t, ExitOK)
	r.decode(t, &rep)
	if !rep.Changed || !rep.NVLocked || rep.Status != StatusLocked || rep.WasLocked == nil || *rep.WasLocked {
		t.Errorf("fix report = %+v", rep)
	}
	if !strings.Contains(r.stderr, "TPM_NV_INDEX_LOCK") {
		t.Errorf("explanation should go to stderr in --json mode, got %q", r.stderr)
	}
}

// seedNUCIndices are the NV indices tpm_nvinfo listed on the seed's
// DC53427HYE NUC (sizes, permissions, the 0x18 write locality).
func seedNUCIndices() []NVIndex12 {
	nv := func(idx, perms, size uint32) NVIndex12 {
		return NVIndex12{Index: idx, ReadPCRs: NoPCRs(), WritePCRs: NoPCRs(), Permissions: perms, Size: size}
	}
	// The NUC's AUX index had no permission bits, which only the platform
	// can define (a TPM refuses a user-defined index nobody may write with
	// TPM_PER_NOWRITE); AUTHREAD|AUTHWRITE stands in, keeping locality 0x18.
	aux := nv(0x50000003, 0x00040004, 64)
	aux.WritePCRs.Locality = 0x18
	// The NUC also listed 0x10000001 (TPM_NV_INDEX_DIR, WRITEALL|OWNERWRITE,
	// 20 bytes), which a TPM provides itself; libtpms refuses to define it.
	return []NVIndex12{
		nv(0x00011001, 0x00001002, 20),   // WRITEALL|OWNERWRITE
		nv(0x1000f000, 0x00020002, 1129), // OWNERREAD|OWNERWRITE (EK certificate)
		nv(0x50010000, 0x00000001, 10),   // PPWRITE
		aux,
		nv(0x50000001, 0x00002000, 54), // WRITEDEFINE
	}
}

// TestTPM12NVInfo defines the NUC's indices on swtpm (possible without
// auth while NV is unlocked) and lists them like tpm_nvinfo.
func TestTPM12NVInfo(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{})
	r := runCLI(t, "", "nvinfo", "--device", s.Device).mustCode(t, ExitOK)
	golden(t, "tpm12_nvinfo_empty.txt", r.stdout)

	d := openDev(t, s)
	want := seedNUCIndices()
	for i := range want {
		if err := NewTPM12(d).defineSpaceUnauth(context.Background(), &want[i]); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()

	r = runCLI(t, "", "nvinfo", "--device", s.Device).mustCode(t, ExitOK)
	golden(t, "tpm12_nvinfo.txt", r.stdout)

	var rep struct {
		Family   Family `json:"family"`
		NVLocked *bool  `json:"nv_locked"`
		Indices  []struct {
			Index           string   `json:"index"`
			Permissions     string   `json:"permissions"`
			PermissionNames []string `json:"permission_names"`
			Size            uint32   `json:"size"`
			PCRWrite        struct {
				Locality uint8 `json:"locality_at_release"`
			} `json:"pcr_write"`
		} `json:"indices"`
	}
	runCLI(t, "", "nvinfo", "--json", "--device", s.Device).mustCode(t, ExitOK).decode(t, &rep)
	if rep.Family != Family12 || rep.NVLocked == nil || *rep.NVLocked {
		t.Fatalf("report family %q nv_locked %v", rep.Family, rep.NVLocked)
	}
	got := map[string]string{}
	for _, ix := range rep.Indices {
		got[ix.Index] = strings.Join(ix.PermissionNames, "|") + " " + ix.Permissions
		if ix.Index == "0x50000003" && ix.PCRWrite.Locality != 0x18 {
			t.Errorf("0x50000003 write locality = %#x, want 0x18", ix.PCRWrite.Locality)
		}
	}
	for idx, wantPerm := range map[string]string{
		"0x00011001": "WRITEALL|OWNERWRITE 0x00001002",
		"0x1000f000": "OWNERREAD|OWNERWRITE 0x00020002",
		"0x50010000": "PPWRITE 0x00000001",
		"0x50000003": "AUTHREAD|AUTHWRITE 0x00040004",
		"0x50000001": "WRITEDEFINE 0x00002000",
	} {
		if got[idx] != wantPerm {
			t.Errorf("index %s permissions %q, want %q", idx, got[idx], wantPerm)
		}
	}
	if len(rep.Indices) != len(want) {
		t.Errorf("%d indices listed, want %d", len(rep.Indices), len(want))
	}
}

// TestTPM12DisabledDeactivated is the seed's APU: a TPM the BIOS left
// disabled or deactivated ("TPM is disabled/deactivated (0x7)"). The
// TPM's own refusals map onto ErrDisabled/ErrDeactivated, version and
// check say so with advice, and the lock can still be set (the TPM allows
// NV definition in that state).
func TestTPM12DisabledDeactivated(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ord   tpmutil.Command
		want  error
		state string
		code  string
	}{
		{"disabled", ordPhysicalDisable, ErrDisabled, "DISABLED, activated", "TPM_DISABLED (0x7)"},
		{"deactivated", ordSetTempDeactivated, ErrDeactivated, "enabled, DEACTIVATED", "TPM_DEACTIVATED (0x6)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := swtpmtest.Start(t, swtpmtest.Options{})
			d := openDev(t, s)
			assertPhysicalPresence(t, d)
			ctx := context.Background()
			if _, err := runCommand(ctx, d, Family12, tagRQUCommand, tc.name, tc.ord); err != nil {
				t.Fatal(err)
			}
			// TPM_PCRRead is what the kernel's self-test path reads; the
			// TPM refuses it in this state.
			_, err := runCommand(ctx, d, Family12, tagRQUCommand, "TPM_PCRRead", ordPCRRead, uint32(0))
			if !errors.Is(err, tc.want) {
				t.Errorf("TPM_PCRRead: %v, want %v", err, tc.want)
			}
			d.Close()

			r := runCLI(t, "", "version", "--device", s.Device).mustCode(t, ExitOK)
			if !strings.Contains(r.stdout, "TPM State:           "+tc.state) ||
				!strings.Contains(r.stderr, tc.code) || !strings.Contains(r.stderr, "BIOS") {
				t.Errorf("version:\n%s\n%s", r.stdout, r.stderr)
			}
			runCLI(t, "", "nvlock", "check", "--device", s.Device).mustCode(t, ExitUnlocked)
			r = runCLI(t, "", "nvlock", "fix", "--yes", "--device", s.Device).mustCode(t, ExitOK)
			if !strings.Contains(r.stdout, "Note: "+tc.want.Error()) {
				t.Errorf("fix did not warn about the state:\n%s", r.stdout)
			}
			runCLI(t, "", "nvlock", "check", "--device", s.Device).mustCode(t, ExitOK)
		})
	}
}

// TestNotStarted: a TPM initialised but never sent TPM_Startup, as on a
// board whose BIOS ignores the TPM.
func TestNotStarted(t *testing.T) {
	for _, tc := range []struct {
		name string
		tpm2 bool
	}{{"tpm12", false}, {"tpm20", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := swtpmtest.Start(t, swtpmtest.Options{TPM2: tc.tpm2, NoStartup: true})
			var fail errorReport
			r := runCLI(t, "", "version", "--json", "--device", s.Device).mustCode(t, ExitFailure)
			r.decode(t, &fail)
			if fail.Kind != "not-started" || !strings.Contains(fail.Advice, "modprobe tpm_tis force=1") {
				t.Errorf("report = %+v", fail)
			}
		})
	}
}
