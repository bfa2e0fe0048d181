//go:build !linux

package atomicfile

// exchange is only atomic on Linux; elsewhere SwapDir renames twice.
func exchange(a, b string) error { return errNoExchange }
