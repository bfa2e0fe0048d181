package tpm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCapVersionInfo(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      *Version12
		wantErr   string
	}{
		{
			// swtpm's TPM_CAP_VERSION_INFO, which go-tpm misreads as
			// tag 0x3000 and spec level 512 (little-endian).
			name: "swtpm", raw: "0030 01 02 12 9e 0002 03 49424d00 0000",
			want: &Version12{ChipVersion: "1.2.18.158", SpecLevel: 2, ErrataRevision: 3, VendorID: "IBM",
				VendorIDRaw: HexBytes("IBM\x00"), VendorSpecific: HexBytes{}},
		},
		{
			// The seed's Infineon on the APU: spec level 2, errata 2, IFX,
			// 5 vendor bytes "0313000b 00". The post lost the chip version
			// line; Infineon repeats its firmware (3.19) in the vendor data,
			// so 1.2.3.19 stands in for it.
			name: "seed IFX", raw: "0030 01 02 03 13 0002 02 49465800 0005 0313000b00",
			want: &Version12{ChipVersion: "1.2.3.19", SpecLevel: 2, ErrataRevision: 2, VendorID: "IFX",
				VendorIDRaw: HexBytes("IFX\x00"), VendorSpecific: HexBytes{3, 0x13, 0, 0x0b, 0}},
		},
		{name: "wrong tag", raw: "3000 01 02 12 9e 0002 03 49424d00 0000", wantErr: "tag 0x3000"},
		{name: "short", raw: "0030 01 02", wantErr: "at least"},
		{name: "vendor bytes missing", raw: "0030 01 02 03 13 0002 02 49465800 0005 0313", wantErr: "announces 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCapVersionInfo(unhex(t, tc.raw))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestWriteVersion12SeedIFX renders the seed's APU TPM in tpm_version's
// layout: the post's output is the reference.
func TestWriteVersion12SeedIFX(t *testing.T) {
	v, err := parseCapVersionInfo(unhex(t, "0030 01 02 03 13 0002 02 49465800 0005 0313000b00"))
	if err != nil {
		t.Fatal(err)
	}
	v.TPMVersion, v.Manufacturer = unhex(t, "01010000"), unhex(t, "49465800")
	v.State12 = State12{Enabled: false, Activated: false}
	var b bytes.Buffer
	if err := WriteVersion12(&b, v); err != nil {
		t.Fatal(err)
	}
	golden(t, "seed_ifx_version.txt", b.String())
	for _, line := range []string{
		"  Spec Level:          2\n", "  Errata Revision:     2\n", "  TPM Vendor ID:       IFX\n",
		"  Vendor Specific data: 0313000b 00\n", "  TPM Version:         01010000\n",
		"  Manufacturer Info:   49465800\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("output lacks the post's line %q", line)
		}
	}
}

func TestNVDataPublicRoundTrip(t *testing.T) {
	for _, nv := range seedNUCIndices() {
		nv.ReadPCRs.Select = HexBytes{0x81, 0, 0} // PCR 0 and 7
		nv.ReadPCRs.Digest = bytes.Repeat([]byte{0x5a}, 20)
		nv.ReadSTClear, nv.WriteDefine = true, true
		got, err := parseNVDataPublic(nv.encode())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, nv) {
			t.Errorf("round trip:\n got %+v\nwant %+v", *got, nv)
		}
		if pcrs := got.ReadPCRs.PCRs(); !reflect.DeepEqual(pcrs, []int{0, 7}) {
			t.Errorf("PCRs = %v", pcrs)
		}
	}
	if len(NoPCRs().Select) != 3 || 10+len((&NVIndex12{Index: IndexLock, ReadPCRs: NoPCRs(), WritePCRs: NoPCRs()}).encode())+20 != 101 {
		t.Error("TPM_NV_DefineSpace command for the lock must be 101 bytes: header, 71-byte TPM_NV_DATA_PUBLIC, encAuth")
	}
}

// TestPermissionNames checks the spec values that go-tpm gets wrong from
// bit 12 up (it has WRITEALL 0x800, OWNERREAD 0x100000, ...).
func TestPermissionNames(t *testing.T) {
	for perm, want := range map[uint32]string{
		0x00001002: "WRITEALL|OWNERWRITE",
		0x00020002: "OWNERREAD|OWNERWRITE",
		0x00002000: "WRITEDEFINE",
		0x00000001: "PPWRITE",
		0x00000000: "",
		0x8004C000: "READ_STCLEAR|AUTHREAD|GLOBALLOCK|WRITE_STCLEAR",
		0x00000808: "0x808",
	} {
		if got := strings.Join(NVIndex12{Permissions: perm}.PermissionNames(), "|"); got != want {
			t.Errorf("0x%08x: %q, want %q", perm, got, want)
		}
	}
}

func TestRCErrors(t *testing.T) {
	for _, tc := range []struct {
		err  *RCError
		is   error
		text string
	}{
		{&RCError{Family12, "x", 0x7}, ErrDisabled, "TPM_DISABLED"},
		{&RCError{Family12, "x", 0x6}, ErrDeactivated, "TPM_DEACTIVATED"},
		{&RCError{Family12, "x", 0x26}, ErrNotStarted, "TPM_INVALID_POSTINIT"},
		{&RCError{Family12, "x", 0x9}, ErrFailureMode, "TPM_FAIL"},
		{&RCError{Family20, "x", 0x100}, ErrNotStarted, "TPM_RC_INITIALIZE"},
		{&RCError{Family20, "x", 0x101}, ErrFailureMode, "TPM_RC_FAILURE"},
		{&RCError{Family20, "x", 0x18B}, nil, "TPM_RC_HANDLE, handle 1"},
		{&RCError{Family20, "x", 0x1C4}, nil, "TPM_RC_VALUE, parameter 1"},
		{&RCError{Family20, "x", 0x98E}, nil, "TPM_RC_AUTH_FAIL, session 1"},
		{&RCError{Family20, "x", 0x7}, nil, "unknown TPM 2.0"},
	} {
		if tc.is != nil && !errors.Is(tc.err, tc.is) {
			t.Errorf("%v is not %v", tc.err, tc.is)
		}
		// A 2.0 code must not be mistaken for the 1.2 code of the same value.
		if tc.err.Family == Family20 && errors.Is(tc.err, ErrDisabled) {
			t.Errorf("%v matched ErrDisabled", tc.err)
		}
		if !strings.Contains(tc.err.Error(), tc.text) {
			t.Errorf("%v lacks %q", tc.err, tc.text)
		}
	}
}

func FuzzParsers(f *testing.F) {
	f.Add(unhex(f, "0030 01 02 12 9e 0002 03 49424d00 0000"))
	f.Add(seedNUCIndices()[3].encode())
	f.Add(unhex(f, "000e 01500000 000b 00000006 0000 0020 0022 000b"+strings.Repeat("ab", 32)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseCapVersionInfo(b); err == nil && 15+len(v.VendorSpecific) != len(b) {
			t.Fatalf("version info of %d bytes accepted with %d vendor bytes", len(b), len(v.VendorSpecific))
		}
		if nv, err := parseNVDataPublic(b); err == nil {
			// Booleans may come in as any non-zero byte, so compare decoded forms.
			again, err := parseNVDataPublic(nv.encode())
			if err != nil || !reflect.DeepEqual(again, nv) {
				t.Fatalf("NV data public does not survive a re-encode: %v\n%+v\n%+v", err, nv, again)
			}
		}
		_, _ = parseNVReadPublic(b)
		_, _ = parsePermanentFlags(b)
	})
}
