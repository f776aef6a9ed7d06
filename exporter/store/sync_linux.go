//go:build linux

package store

import (
	"os"
	"syscall"
)

// fdatasync syncs f's data and the size that reads it, not its times: what the log
// needs of each append.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
