package client_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signedAt writes the FEC's INDEX with serial and expiry, signed.
func signedAt(t *testing.T, st *clienttest.Storage, key clienttest.Key, serial uint64, expires time.Time) {
	t.Helper()
	ix := st.Index("fec01")
	ix.Serial, ix.Expires = serial, expires
	st.WriteIndex(t, "fec01", key.Private)
}

// noStatus leaves the status file (a report, rewritten every run) out of
// a snapshot of the FEC's root.
var noStatus = testkit.SnapshotOptions{Skip: func(rel string) bool { return strings.HasSuffix(rel, "status.json") }}

func TestShellRefusesReplayAndExpired(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "openssl")
	key := clienttest.NewKey(t)
	keys := clienttest.KeyFile(t, key)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "2.0.0", clienttest.Tree("opt/a", map[string]string{"f": "new"}))
	week := time.Now().Add(7 * 24 * time.Hour)
	signedAt(t, st, key, 2_000_000_000_000_000_000, week)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	run := func(extra ...string) clienttest.Result {
		return sh.Run(t, env(ng.URL, root, append([]string{"FECDEPLOY_PUBLIC_KEYS=" + keys}, extra...)...))
	}
	r := run()
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, "2000000000000000000\n", testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/accepted-serial")))
	r = run()
	require.Equal(t, 0, r.Code, "the same INDEX again is no replay: %s", r.Stderr)

	// Replay: an older, validly signed INDEX naming an older version.
	before := testkit.Snapshot(t, root, noStatus)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "old"}))
	signedAt(t, st, key, 1_999_999_999_999_999_999, week)
	r = run()
	assert.Equal(t, 4, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "refused: replay: serial 1999999999999999999, this FEC already accepted serial 2000000000000000000")
	assert.Equal(t, before, testkit.Snapshot(t, root, noStatus), "installed software and state unchanged")
	// One with no serial at all is a replay too.
	signedAt(t, st, key, 0, time.Time{})
	r = run()
	assert.Equal(t, 4, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "replay: it has no serial")
	assert.Equal(t, before, testkit.Snapshot(t, root, noStatus))

	// Expired (freeze): the clock is sane, the INDEX expired an hour ago.
	signedAt(t, st, key, 2_000_000_000_000_000_001, time.Now().Add(-time.Hour))
	r = run()
	assert.Equal(t, 4, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "refused: expired at ")
	assert.Equal(t, before, testkit.Snapshot(t, root, noStatus))

	// A clock at 1970 cannot judge expiry: the serial rule alone holds.
	sh.SetClock(t, 0)
	r = run()
	assert.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "before this client's date: INDEX expiry not checked")
	assert.Equal(t, "2000000000000000001\n", testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/accepted-serial")))
	signedAt(t, st, key, 1_999_999_999_999_999_999, week)
	r = run()
	assert.Equal(t, 4, r.Code, "a 1970 clock still refuses a replay: %s", r.Stderr)

	// A clock at 2038 sees an INDEX valid for a week as expired.
	sh.SetClock(t, 2147483648)
	signedAt(t, st, key, 2_000_000_000_000_000_002, week)
	r = run()
	assert.Equal(t, 4, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "the clock says 2038-01-19T03:14:08Z")
}

func TestShellFreshnessHeaderChecked(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "openssl")
	key := clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	data := st.WriteIndex(t, "fec01", nil)
	bad := strings.Replace(string(data), " arch=x86_64", " arch=x86_64 serial=0123", 1)
	st.WriteRaw(t, "fecs/fec01/INDEX", []byte(bad))
	st.WriteRaw(t, "fecs/fec01/INDEX.sig", index.Sign(key.Private, []byte(bad)))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	r := sh.Run(t, env(ng.URL, t.TempDir(), "FECDEPLOY_PUBLIC_KEYS="+clienttest.KeyFile(t, key)))
	assert.Equal(t, 4, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `serial "0123" is not a plain decimal number above 0`)
}

// The shell client's idea of a sane clock is the Go client's.
func TestShellClientEpoch(t *testing.T) {
	t.Parallel()
	assert.Contains(t, string(client.Script), fmt.Sprintf("\nCLIENT_EPOCH=%d\n", index.ClientEpoch.Unix()))
}
