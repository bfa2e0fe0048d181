package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchange swaps the directory entries a and b in one step
// (renameat2 RENAME_EXCHANGE): there is no moment at which either name is
// missing. errNoExchange means the filesystem cannot do it.
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return errNoExchange
	}
	return err
}
