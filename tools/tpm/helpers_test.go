package tpm

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpmutil"

	"github.com/xtbuild/xtbuild/tools/tpm/device"
	"github.com/xtbuild/xtbuild/tools/tpm/internal/swtpmtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// result is one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs `xt tpm args...` through Run, as cmd/xt would.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// mustCode fails unless r exited with want.
func (r result) mustCode(t *testing.T, want int) result {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	return r
}

// decode parses stdout as JSON into v.
func (r result) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// openDev opens the emulator directly, for test set-up that the CLI does
// not offer (defining indices, asserting physical presence).
func openDev(t *testing.T, s *swtpmtest.SWTPM) *device.Device {
	t.Helper()
	d, err := device.Open(context.Background(), s.Device, device.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TPM 1.2 ordinals only the tests send (TPM Main Part 3).
const (
	ordPCRRead             tpmutil.Command = 0x15
	ordPhysicalDisable     tpmutil.Command = 0x70
	ordSetTempDeactivated  tpmutil.Command = 0x73
	ordTSCPhysicalPresence tpmutil.Command = 0x4000000A

	ppCMDEnable = 0x0020
	ppPresent   = 0x0008
)

// assertPhysicalPresence does what a BIOS that never locked physical
// presence allows software to do: enable the command and assert presence.
// swtpm leaves physicalPresenceLifetimeLock FALSE, so this works there.
func assertPhysicalPresence(t *testing.T, d *device.Device) {
	t.Helper()
	ctx := context.Background()
	for _, v := range []uint16{ppCMDEnable, ppPresent} {
		if _, err := runCommand(ctx, d, Family12, tagRQUCommand, "TSC_PhysicalPresence", ordTSCPhysicalPresence, v); err != nil {
			t.Fatal(err)
		}
	}
}
