//go:build linux

package fec

import (
	"os"
	"syscall"
)

// syncFS flushes the filesystem holding dir to disk (syncfs(2)): only that
// filesystem, so a hung network mount elsewhere cannot block the boot.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, errno := syscall.Syscall(sysSyncfs, f.Fd(), 0, 0); errno != 0 {
		return &os.SyscallError{Syscall: "syncfs", Err: errno}
	}
	return nil
}
