package tpm

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// busyTPMStandIn answers the first `busy` commands with code `rc` and then
// succeeds, like a TPM still running its self test after power-on (which
// swtpm cannot be made to do).
type busyTPMStandIn struct {
	busy, calls int
	rc          uint32
	tag         uint16
}

func (b *busyTPMStandIn) Transmit(_ context.Context, _ []byte) ([]byte, error) {
	b.calls++
	rc := uint32(0)
	if b.calls <= b.busy {
		rc = b.rc
	}
	resp := binary.BigEndian.AppendUint16(nil, b.tag)
	resp = binary.BigEndian.AppendUint32(resp, 10)
	return binary.BigEndian.AppendUint32(resp, rc), nil
}

func TestRunCommandRetriesNotExecuted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fam       Family
		tpm       *busyTPMStandIn
		wantCalls int
		wantErr   bool
	}{
		{"1.2 doing self test", Family12, &busyTPMStandIn{busy: 2, rc: 0x802, tag: 0xC4}, 3, false},
		{"2.0 testing", Family20, &busyTPMStandIn{busy: 1, rc: 0x90A, tag: 0x8001}, 2, false},
		{"2.0 retry forever", Family20, &busyTPMStandIn{busy: 100, rc: 0x922, tag: 0x8001}, 6, true},
		{"1.2 disabled is final", Family12, &busyTPMStandIn{busy: 100, rc: rcDisabled, tag: 0xC4}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCommand(context.Background(), tc.tpm, tc.fam, tagRQUCommand, "cmd", 0x65)
			var rc *RCError
			if (err != nil) != tc.wantErr || (err != nil && !errors.As(err, &rc)) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.tpm.calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", tc.tpm.calls, tc.wantCalls)
			}
		})
	}
}
