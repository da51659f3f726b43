package demo

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	bb, _ := testenv.BusyboxPath(t)
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, Run(context.Background(), Options{Dir: dir, Busybox: bb}, &out), "demo:\n%s", out.String())
	s := out.String()
	for _, want := range []string{
		"ppc01 (arch ppc, decoders gzip,xz)",
		"[50-start-daemons] RFTuner_DU is a dev release: not started as a daemon",
		"[50-start-daemons] starting BeamPosition_DU as a daemon",
		"second boot: 0 installed, 5 skipped",
		"booting ppc01 with fec-boot.sh",
	} {
		assert.Contains(t, s, want)
	}
	// Both simulated FECs got the software at its unpack location.
	for _, p := range []string{
		"fec-scu01/opt/fesa/BeamPosition_DU/1.1.0/bin/BeamPosition_DU",
		"fec-scu01/opt/fesa/RFTuner_DU/dev/bin/RFTuner_DU",
		"fec-scu01/opt/local/etc/network.conf",
		"fec-ppc01/opt/fesa/BeamPosition_DU/1.1.0/instance/BeamPosition_DEV00.instance",
		"fec-ppc01/opt/devacc/timing-lib/2.4.1/lib/libtiming0.so.1",
	} {
		assert.FileExists(t, filepath.Join(dir, p), "on the simulated FEC")
	}
	// The ppc FEC never gets the x86_64 build or the zstd-only dev release.
	_, err := os.Lstat(filepath.Join(dir, "fec-ppc01/opt/fesa/RFTuner_DU"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "ppc01 got RFTuner_DU")
}

// A demo directory that already holds a storage is refused, not overwritten.
func TestDemoRefusesExistingStorage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, Run(context.Background(), Options{Dir: dir, Busybox: "-"}, &bytes.Buffer{}))
	// the lock file's content names its last holder
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }}
	before := testkit.Snapshot(t, filepath.Join(dir, "web-storage"), noLock)
	err := Run(context.Background(), Options{Dir: dir, Busybox: "-"}, &bytes.Buffer{})
	require.ErrorIs(t, err, storage.ErrExists, "a second demo into the same directory")
	assert.Equal(t, before, testkit.Snapshot(t, filepath.Join(dir, "web-storage"), noLock), "the storage is unchanged")
}
