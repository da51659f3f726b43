package fec

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func signIndexAt(t *testing.T, st *clienttest.Storage, key clienttest.Key, serial uint64, expires time.Time) {
	t.Helper()
	ix := st.Index("fec01")
	ix.Serial, ix.Expires = serial, expires
	st.WriteIndex(t, "fec01", key.Private)
}

var skipStatus = testkit.SnapshotOptions{Skip: func(rel string) bool { return strings.HasSuffix(rel, "status.json") }}

// Replay and freeze: a lower serial than accepted and an expired INDEX are
// refused (exit 4) with one message, leaving the installed software and the
// state as they were; a clock before the client's date checks only the
// serial; a clock at 2038 refuses an INDEX valid for a week.
func TestBootRefusesReplayAndExpired(t *testing.T) {
	t.Parallel()
	key := clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "2.0.0", clienttest.Tree("opt/a", map[string]string{"f": "new"}))
	now := time.Now()
	week := now.Add(7 * 24 * time.Hour)
	signIndexAt(t, st, key, 2_000_000_000_000_000_000, week)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	cfg.PublicKeys = []ed25519.PublicKey{key.Public}
	clock := now
	cfg.Now = func() time.Time { return clock }
	boot := func() error { _, err := Boot(context.Background(), cfg); return err }
	serialFile := filepath.Join(cfg.Root, "var/lib/fecdeploy", AcceptedSerialFile)

	require.NoError(t, boot())
	assert.Equal(t, "2000000000000000000\n", testkit.ReadFile(t, serialFile))
	require.NoError(t, boot(), "the same INDEX again")

	before := testkit.Snapshot(t, cfg.Root, skipStatus)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "old"}))
	signIndexAt(t, st, key, 1_999_999_999_999_999_999, week)
	err := boot()
	require.ErrorIs(t, err, index.ErrReplay)
	assert.Equal(t, ExitVerify, ExitCode(err))
	assert.Contains(t, err.Error(), "serial 1999999999999999999, this FEC already accepted serial 2000000000000000000")
	assert.NotContains(t, err.Error(), "\n")
	assert.Equal(t, before, testkit.Snapshot(t, cfg.Root, skipStatus))

	signIndexAt(t, st, key, 0, time.Time{})
	require.ErrorIs(t, boot(), index.ErrReplay, "no serial after one was accepted")

	signIndexAt(t, st, key, 2_000_000_000_000_000_001, now.Add(-time.Hour))
	err = boot()
	require.ErrorIs(t, err, index.ErrExpired)
	assert.Equal(t, ExitVerify, ExitCode(err))
	assert.Equal(t, before, testkit.Snapshot(t, cfg.Root, skipStatus))

	clock = time.Unix(0, 0) // unset clock: the serial rule alone
	require.NoError(t, boot())
	assert.Equal(t, "2000000000000000001\n", testkit.ReadFile(t, serialFile))
	signIndexAt(t, st, key, 1_999_999_999_999_999_999, week)
	require.ErrorIs(t, boot(), index.ErrReplay)

	clock = time.Unix(2147483648, 0) // 2038
	signIndexAt(t, st, key, 2_000_000_000_000_000_002, week)
	require.ErrorIs(t, boot(), index.ErrExpired)

	// A damaged state file is said, not ignored.
	clock = now
	require.NoError(t, os.WriteFile(serialFile, []byte("12x\n"), 0o644))
	err = boot()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is damaged")
}

// A dry run checks but records nothing.
func TestDryRunDoesNotRecordSerial(t *testing.T) {
	t.Parallel()
	key := clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	signIndexAt(t, st, key, 5, time.Now().Add(time.Hour))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	cfg.PublicKeys = []ed25519.PublicKey{key.Public}
	cfg.DryRun = true
	_, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(cfg.Root, "var/lib/fecdeploy", AcceptedSerialFile))
}
