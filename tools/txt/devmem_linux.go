//go:build linux

package txt

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// ReadDevMem copies StatusSize bytes of the public space from a /dev/mem
// style device (root or CAP_SYS_RAWIO needed). Like txt-stat it tries
// pread first and falls back to mmap, reading the mapping with aligned
// 64-bit loads since the space is device registers, not RAM.
func ReadDevMem(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read TXT config space: %w", err)
	}
	defer f.Close()
	buf := make([]byte, StatusSize)
	n, perr := f.ReadAt(buf, PublicBase)
	if perr == nil && n == len(buf) {
		return buf, nil
	}
	m, merr := syscall.Mmap(int(f.Fd()), PublicBase, StatusSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if merr != nil {
		return nil, fmt.Errorf("read %s at 0x%x: pread: %v; mmap: %w (kernel lockdown or CONFIG_IO_STRICT_DEVMEM can forbid this)", path, PublicBase, perr, merr)
	}
	defer syscall.Munmap(m)
	for off := 0; off < StatusSize; off += 8 {
		v := *(*uint64)(unsafe.Pointer(&m[off]))
		for i := 0; i < 8; i++ {
			buf[off+i] = byte(v >> (8 * i))
		}
	}
	return buf, nil
}
