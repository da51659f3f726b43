package archive

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The archive package ends up in fec-boot, which runs on FECs: it must not
// pull in decoders for formats we never read (mholt/archives registers zip,
// rar, 7z, brotli, lz4, ... in its init: +4.6 MB of binary).
func TestNoHeavyDependencies(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	require.NoError(t, err, "go list -deps")
	for _, bad := range []string{"github.com/mholt/archives", "rardecode", "sevenzip", "brotli", "lz4", "STARRY-S/zip"} {
		assert.NotContains(t, string(out), bad, "archive depends on %s", bad)
	}
}
