package archive

import (
	"os/exec"
	"strings"
	"testing"
)

// The archive package ends up in fec-boot, which runs on FECs: it must not
// pull in decoders for formats we never read (mholt/archives registers zip,
// rar, 7z, brotli, lz4, ... in its init: +4.6 MB of binary).
func TestNoHeavyDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, bad := range []string{"github.com/mholt/archives", "rardecode", "sevenzip", "brotli", "lz4", "STARRY-S/zip"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("archive depends on %s", bad)
		}
	}
}
