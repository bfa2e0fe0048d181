package txt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configSpace builds a public config space image the way the chipset
// lays it out: 64-bit little-endian registers at their offsets.
func configSpace(regs map[int]uint64, key []byte) []byte {
	b := make([]byte, StatusSize)
	for off, v := range regs {
		binary.LittleEndian.PutUint64(b[off:], v)
	}
	copy(b[RegPublicKey:], key)
	return b
}

// A machine after a failed launch on the IVB NUC: error code set, SENTER
// not done, production fused via VER.QPIIF because FSBIF reads all ones.
func ivbAfterFailure() []byte {
	key := bytes.Repeat([]byte{0xab}, 32)
	return configSpace(map[int]uint64{
		RegSTS:       1<<6 | 1<<15, // mem config lock, locality 1 open
		RegESTS:      0,
		RegErrorCode: 0xc0021041,
		RegVerFSBIF:  0xffffffffffffffff,
		RegVerQPIIF:  0x9d003000,         // bit 31 set
		RegDIDVID:    0x00000001b0018086, // rev 1, device 0xb001, vendor 0x8086
		RegSINITBase: 0xdff00000,
		RegSINITSize: 0x20000,
		RegHeapBase:  0xdff20000,
		RegHeapSize:  0xe0000,
		RegDPR:       0xe0000000 | 3<<4 | 1,
		RegE2STS:     0,
	}, key)
}

func TestStatusDecode(t *testing.T) {
	st, err := ParseStatus(ivbAfterFailure())
	if err != nil {
		t.Fatal(err)
	}
	if st.SENTERDone() || !st.MemConfigLock() || !st.Locality1Open() || st.Locality2Open() || st.PrivateOpen() {
		t.Errorf("STS bits wrong: %#x", st.STS)
	}
	if st.VendorID() != 0x8086 || st.DeviceID() != 0xb001 || st.RevisionID() != 1 {
		t.Errorf("DIDVID %#x -> %x:%x rev %x", st.DIDVID, st.VendorID(), st.DeviceID(), st.RevisionID())
	}
	if !st.ProductionFused() {
		t.Error("production fused should come from QPIIF when FSBIF reads all ones")
	}
	if !st.DPRLocked() || st.DPRSizeMB() != 3 || st.DPRTop() != 0xe0000000 {
		t.Errorf("DPR: lock %v size %d top %#x", st.DPRLocked(), st.DPRSizeMB(), st.DPRTop())
	}
	if st.AllOnes || st.ResetSTS() || st.SecretsSet() {
		t.Errorf("flags: %+v", st)
	}
	var out bytes.Buffer
	if err := st.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TXT measured launch: FALSE", "secrets flag set: FALSE", "0xb001\n", "TXT.ERRORCODE 0xc0021041", "TPM NV RAM not locked"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	golden(t, "testdata/golden/status-ivb-after-failure.txt", out.Bytes())
}

func TestStatusFSBIFWins(t *testing.T) {
	b := configSpace(map[int]uint64{RegVerFSBIF: 0x12345678 &^ (1 << 31), RegVerQPIIF: 1 << 31}, nil)
	st, _ := ParseStatus(b)
	if st.ProductionFused() {
		t.Error("a valid FSBIF decides; QPIIF must not be read")
	}
}

func TestStatusDisabledTXT(t *testing.T) {
	b := bytes.Repeat([]byte{0xff}, StatusSize)
	st, err := ParseStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := st.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !st.AllOnes || !strings.Contains(out.String(), "TXT is disabled") {
		t.Errorf("all-ones space not reported as disabled:\n%s", out.String())
	}
}

func TestStatusShortDump(t *testing.T) {
	if _, err := ParseStatus(make([]byte, 0x100)); err == nil {
		t.Fatal("want error for a dump that stops before E2STS")
	}
	if _, err := ReadStatus(bytes.NewReader(make([]byte, 0x800))); err == nil {
		t.Fatal("want error from ReadStatus for a short source")
	}
	if _, err := ReadStatus(bytes.NewReader(ivbAfterFailure())); err != nil {
		t.Fatal(err)
	}
}

func TestStatusJSON(t *testing.T) {
	st, _ := ParseStatus(ivbAfterFailure())
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["errorcode"] != "0x00000000c0021041" || m["measured_launch"] != false || m["device_id"] != float64(0xb001) {
		t.Errorf("json: %s", b)
	}
	if _, ok := m["errorcode_decoded"]; !ok {
		t.Errorf("no decoded error code in %s", b)
	}
}

func TestMainStatusDumpAndSave(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "txt.bin")
	if err := os.WriteFile(dump, ivbAfterFailure(), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "copy.bin")
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"status", "--dump", dump, "--save", saved}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, _ := os.ReadFile(saved)
	if !bytes.Equal(got, ivbAfterFailure()) {
		t.Error("--save did not write the bytes read")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("temp files left behind: %v", ents)
	}
	if !strings.Contains(stdout.String(), "TXT measured launch: FALSE") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := Main(context.Background(), []string{"status", "--dump", filepath.Join(dir, "missing")}, &stdout, &stderr); code != 1 {
		t.Errorf("missing dump: exit %d", code)
	}
}

// ReadDevMem's pread path, against a sparse file holding the register
// image at the physical address, as /dev/mem presents it.
func TestReadDevMemPread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mem")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ivbAfterFailure(), PublicBase); err != nil {
		f.Close()
		t.Skipf("filesystem without sparse files: %v", err)
	}
	f.Close()
	got, err := ReadDevMem(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ivbAfterFailure()) {
		t.Fatal("ReadDevMem returned other bytes than the image at 0xFED30000")
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"status", "--devmem", path, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"errorcode": "0x00000000c0021041"`) {
		t.Errorf("stdout: %s", stdout.String())
	}
}
