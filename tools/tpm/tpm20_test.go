package tpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/xtbuild/xtbuild/tools/tpm/internal/swtpmtest"
)

// TestTPM20Version reads a fresh swtpm --tpm2 through the CLI and checks
// the decoding against go-tpm's tpm2 package.
func TestTPM20Version(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{TPM2: true})
	r := runCLI(t, "", "version", "--device", s.Device).mustCode(t, ExitOK)
	golden(t, "tpm20_version.txt", r.stdout)

	var rep versionReport
	runCLI(t, "", "version", "--json", "--device", s.Device).mustCode(t, ExitOK).decode(t, &rep)
	if rep.Family != Family20 || rep.TPM20 == nil || rep.TPM12 != nil {
		t.Fatalf("family %q, tpm12 %v, tpm20 %v; want 2.0 only", rep.Family, rep.TPM12, rep.TPM20)
	}
	v := rep.TPM20

	tp, done := tpm2Transport(t, s)
	defer done()
	resp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTFamilyIndicator),
		PropertyCount: uint32(tpm2.TPMPTFirmwareVersion2-tpm2.TPMPTFamilyIndicator) + 1,
	}.Execute(tp)
	if err != nil {
		t.Fatal(err)
	}
	props, err := resp.CapabilityData.Data.TPMProperties()
	if err != nil {
		t.Fatal(err)
	}
	want := map[tpm2.TPMPT]uint32{}
	for _, p := range props.TPMProperty {
		want[p.Property] = p.Value
	}
	manu := binary.BigEndian.AppendUint32(nil, want[tpm2.TPMPTManufacturer])
	if v.Family != "2.0" || v.Level != want[tpm2.TPMPTLevel] || v.SpecYear != want[tpm2.TPMPTYear] ||
		v.SpecDayOfYear != want[tpm2.TPMPTDayofYear] || !bytes.Equal(v.Manufacturer, manu) ||
		v.FirmwareVersion1 != want[tpm2.TPMPTFirmwareVersion1] || v.FirmwareVersion2 != want[tpm2.TPMPTFirmwareVersion2] ||
		v.VendorTPMType != want[tpm2.TPMPTVendorTPMType] {
		t.Errorf("version %+v disagrees with go-tpm's properties %v", v, want)
	}
	if rev := want[tpm2.TPMPTRevision]; v.Revision != fmtRevision(rev) {
		t.Errorf("revision %q, TPM says %d", v.Revision, rev)
	}
	if !v.StorageEnabled || !v.EndorsementEnabled || v.OwnerAuthSet || v.InLockout {
		t.Errorf("fresh swtpm state = %+v", v.State20)
	}
}

func fmtRevision(r uint32) string {
	return string(rune('0'+r/100)) + "." + string(rune('0'+r%100/10)) + string(rune('0'+r%10))
}

// tpm2Transport opens the emulator for go-tpm. swtpm serves one connection
// at a time, so close it before running the CLI.
func tpm2Transport(t *testing.T, s *swtpmtest.SWTPM) (transport.TPM, func()) {
	t.Helper()
	d := openDev(t, s)
	return sender{ctx: context.Background(), tx: d}, func() { d.Close() }
}

// sender adapts the device to go-tpm's transport for test set-up.
type sender struct {
	ctx context.Context
	tx  interface {
		Transmit(context.Context, []byte) ([]byte, error)
	}
}

func (s sender) Send(cmd []byte) ([]byte, error) { return s.tx.Transmit(s.ctx, cmd) }

// TestTPM20NVInfo defines indices with go-tpm (owner auth, empty) and lists
// them; the decoding must agree with tpm2.NVReadPublic.
func TestTPM20NVInfo(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{TPM2: true})
	r := runCLI(t, "", "nvinfo", "--device", s.Device).mustCode(t, ExitOK)
	golden(t, "tpm20_nvinfo_empty.txt", r.stdout)

	tp, done := tpm2Transport(t, s)
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	defs := []tpm2.TPMSNVPublic{
		{NVIndex: 0x01500000, NameAlg: tpm2.TPMAlgSHA256, DataSize: 32,
			Attributes: tpm2.TPMANV{OwnerWrite: true, OwnerRead: true, AuthRead: true, AuthWrite: true, NoDA: true}},
		{NVIndex: 0x01500001, NameAlg: tpm2.TPMAlgSHA256, DataSize: 8,
			Attributes: tpm2.TPMANV{OwnerWrite: true, OwnerRead: true, NT: tpm2.TPMNTCounter}},
		{NVIndex: 0x01500002, NameAlg: tpm2.TPMAlgSHA1, DataSize: 16,
			AuthPolicy: tpm2.TPM2BDigest{Buffer: bytes.Repeat([]byte{0xab}, 20)},
			Attributes: tpm2.TPMANV{PolicyWrite: true, PolicyRead: true, WriteSTClear: true}},
	}
	for _, d := range defs {
		if _, err := (tpm2.NVDefineSpace{AuthHandle: owner, PublicInfo: tpm2.New2B(d)}).Execute(tp); err != nil {
			t.Fatalf("define 0x%08x: %v", uint32(d.NVIndex), err)
		}
	}
	// A counter becomes "written" after its first increment.
	ctrName := nvName(t, tp, 0x01500001)
	if _, err := (tpm2.NVIncrement{AuthHandle: owner,
		NVIndex: tpm2.NamedHandle{Handle: 0x01500001, Name: ctrName}}).Execute(tp); err != nil {
		t.Fatal(err)
	}
	done()

	r = runCLI(t, "", "nvinfo", "--device", s.Device).mustCode(t, ExitOK)
	golden(t, "tpm20_nvinfo.txt", r.stdout)

	var rep struct {
		Family  Family `json:"family"`
		Indices []struct {
			Index          string   `json:"index"`
			Type           string   `json:"type"`
			NameAlg        string   `json:"name_alg"`
			Attributes     string   `json:"attributes"`
			AttributeNames []string `json:"attribute_names"`
			AuthPolicy     HexBytes `json:"auth_policy"`
			Name           HexBytes `json:"name"`
			Size           uint16   `json:"size"`
		} `json:"indices"`
	}
	runCLI(t, "", "nvinfo", "--json", "--device", s.Device).mustCode(t, ExitOK).decode(t, &rep)
	tp, done = tpm2Transport(t, s)
	defer done()
	if rep.Family != Family20 || len(rep.Indices) != len(defs) {
		t.Fatalf("family %q, %d indices; want 2.0 and %d", rep.Family, len(rep.Indices), len(defs))
	}
	for i, got := range rep.Indices {
		h := tpm2.TPMHandle(defs[i].NVIndex)
		resp, err := tpm2.NVReadPublic{NVIndex: h}.Execute(tp)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := resp.NVPublic.Contents()
		if err != nil {
			t.Fatal(err)
		}
		attrs := binary.BigEndian.Uint32(tpm2.Marshal(pub.Attributes))
		if got.Index != hex32(uint32(h)) || got.Attributes != hex32(attrs) || got.Size != pub.DataSize ||
			!bytes.Equal(got.AuthPolicy, pub.AuthPolicy.Buffer) || !bytes.Equal(got.Name, resp.NVName.Buffer) {
			t.Errorf("index %d: %+v disagrees with go-tpm: attrs 0x%08x size %d policy %x name %x",
				i, got, attrs, pub.DataSize, pub.AuthPolicy.Buffer, resp.NVName.Buffer)
		}
	}
	if rep.Indices[1].Type != "COUNTER" || rep.Indices[2].NameAlg != "sha1" {
		t.Errorf("types/algs: %+v", rep.Indices)
	}
}

func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	b := []byte("0x00000000")
	for i := 9; i >= 2; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

func nvName(t *testing.T, tp transport.TPM, h tpm2.TPMHandle) tpm2.TPM2BName {
	t.Helper()
	resp, err := tpm2.NVReadPublic{NVIndex: h}.Execute(tp)
	if err != nil {
		t.Fatal(err)
	}
	return resp.NVName
}

// TestTPM20NVLock: TPM 2.0 has no NV lock; check passes, fix refuses.
func TestTPM20NVLock(t *testing.T) {
	s := swtpmtest.Start(t, swtpmtest.Options{TPM2: true})
	var rep nvlockReport
	runCLI(t, "", "nvlock", "check", "--json", "--device", s.Device).mustCode(t, ExitOK).decode(t, &rep)
	if rep.Status != StatusNotApplicable || rep.Family != Family20 {
		t.Errorf("check report = %+v", rep)
	}
	var fail errorReport
	runCLI(t, "", "nvlock", "fix", "--yes", "--json", "--device", s.Device).mustCode(t, ExitFailure).decode(t, &fail)
	if fail.Kind != "not-applicable" {
		t.Errorf("fix report = %+v", fail)
	}
}
