//go:build !linux

package txt

import "errors"

// ReadDevMem is only available on Linux.
func ReadDevMem(path string) ([]byte, error) {
	return nil, errors.New("read TXT config space: /dev/mem access is only implemented for Linux; use --dump")
}
