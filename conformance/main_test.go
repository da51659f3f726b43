package conformance

import (
	"os"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
)

// The tests wait on nginx, busybox sh and sleeping init scripts more than
// on the CPU: let more of them run at once than there are cores.
func TestMain(m *testing.M) {
	code := testenv.RunParallel(m, 8)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
