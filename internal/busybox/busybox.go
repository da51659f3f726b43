// Package busybox prepares a directory holding only busybox applets, the
// userland of a PowerPC FEC, so fec-boot.sh runs with nothing from the host.
package busybox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// LinkApplets creates dir/<applet> -> busybox for every applet busybox has.
// Use dir as the only PATH entry.
func LinkApplets(busybox, dir string) error {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if err := os.Symlink(busybox, filepath.Join(dir, applet)); err != nil {
			return err
		}
	}
	return nil
}
