//go:build linux

package archive

import "golang.org/x/sys/unix"

// exchange swaps from (in the directory fromDir) and to (in toDir)
// atomically: renameat2 RENAME_EXCHANGE.
func exchange(fromDir int, from string, toDir int, to string) error {
	return unix.Renameat2(fromDir, from, toDir, to, unix.RENAME_EXCHANGE)
}
