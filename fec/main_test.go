package fec

import (
	"context"
	"os"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
)

// childBootEnv makes the test binary a plain boot client (for the kill -9
// tests): it boots FECDEPLOY_URL/FECDEPLOY_FEC into FECDEPLOY_ROOT and exits.
const childBootEnv = "FEC_TEST_CHILD_BOOT"

// The tests wait on nginx, busybox sh and sleeping init scripts more than
// on the CPU: let more of them run at once than there are cores.
func TestMain(m *testing.M) {
	if os.Getenv(childBootEnv) == "1" {
		_, err := Boot(context.Background(), Config{BaseURL: os.Getenv("FECDEPLOY_URL"), FEC: os.Getenv("FECDEPLOY_FEC"),
			Root: os.Getenv("FECDEPLOY_ROOT"), Retries: -1})
		os.Exit(ExitCode(err))
	}
	os.Exit(testenv.RunParallel(m, 8))
}
