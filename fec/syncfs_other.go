//go:build !linux

package fec

import "syscall"

// syncFS falls back to sync(2) where there is no syncfs(2).
func syncFS(string) error {
	syscall.Sync()
	return nil
}
