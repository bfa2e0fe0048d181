package tpm

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/xtbuild/xtbuild/tools/tpm/device"
)

// Family is the TPM specification family a chip implements.
type Family string

// The families the tool knows.
const (
	Family12 Family = "1.2"
	Family20 Family = "2.0"
)

// probe20 is TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_FAMILY_INDICATOR, 1)
// with no sessions, the same probe Linux's tpm_tis driver sends at load.
var probe20 = []byte{
	0x80, 0x01, // TPM_ST_NO_SESSIONS
	0x00, 0x00, 0x00, 0x16, // size 22
	0x00, 0x00, 0x01, 0x7A, // TPM_CC_GetCapability
	0x00, 0x00, 0x00, 0x06, // TPM_CAP_TPM_PROPERTIES
	0x00, 0x00, 0x01, 0x00, // TPM_PT_FAMILY_INDICATOR
	0x00, 0x00, 0x00, 0x01, // propertyCount
}

// Detect tells TPM 1.2 from 2.0 by the answer to a TPM 2.0 command: a 2.0
// chip answers with a 2.0 tag, a 1.2 chip with TPM_TAG_RSP_COMMAND
// (normally TPM_BADTAG). A 2.0 chip that has not been started is reported
// as ErrNotStarted, and any frame that is neither as device.ErrNotTPM.
func Detect(ctx context.Context, tx device.Transmitter) (Family, error) {
	resp, err := tx.Transmit(ctx, probe20)
	if err != nil {
		return "", fmt.Errorf("detect TPM family: %w", err)
	}
	tag := binary.BigEndian.Uint16(resp)
	rc := binary.BigEndian.Uint32(resp[6:])
	switch tag {
	case 0x8001, 0x8002:
		switch rc {
		case 0:
			return Family20, nil
		case 0x100: // TPM_RC_INITIALIZE
			return Family20, fmt.Errorf("detect TPM family: TPM 2.0 answered TPM_RC_INITIALIZE: %w", ErrNotStarted)
		case 0x101: // TPM_RC_FAILURE
			return Family20, fmt.Errorf("detect TPM family: TPM 2.0 answered TPM_RC_FAILURE: %w", ErrFailureMode)
		}
		return Family20, fmt.Errorf("detect TPM family: TPM 2.0 refused TPM2_GetCapability with 0x%x", rc)
	case 0x00C4:
		return Family12, nil
	}
	return "", fmt.Errorf("detect TPM family: %w: response tag 0x%04x to a TPM2 probe", device.ErrNotTPM, tag)
}
