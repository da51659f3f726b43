package storage

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func signedTestStorage(t *testing.T, dir, state string, clk *fakeClock) (*Storage, ed25519.PrivateKey) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := Init(dir, WithSigningKey(k), WithStateDir(state), WithClock(clk.now))
	require.NoError(t, err)
	return s, k
}

func TestIndexSerialAndExpiry(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0}
	state := t.TempDir()
	s, _ := signedTestStorage(t, t.TempDir(), state, clk)
	mustAddFEC(t, s, "fec01", "x86_64")
	ix := readIndex(t, s, "fec01")
	require.Equal(t, uint64(t0.UnixNano()), ix.Serial)
	assert.Equal(t, t0.Add(index.DefaultLifetime), ix.Expires)
	st, err := os.ReadFile(filepath.Join(state, SerialFileName))
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatUint(ix.Serial, 10)+"\n", string(st), "the state file records the serial")

	// Nothing changed, plenty of time left: the INDEX is not rewritten.
	before := snapshot(t, s.Base())
	clk.set(t0.Add(time.Hour))
	require.NoError(t, s.Reindex(ctx))
	assert.Equal(t, before, snapshot(t, s.Base()))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems, "a signed INDEX with serial/expires is not stale")

	// A change: a new, higher serial.
	clk.set(t0.Add(2 * time.Hour))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 10, 1))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	ix2 := readIndex(t, s, "fec01")
	assert.Greater(t, ix2.Serial, ix.Serial)
	assert.Equal(t, t0.Add(2*time.Hour+index.DefaultLifetime), ix2.Expires)

	// Less than half the lifetime left: a plain reindex re-signs.
	clk.set(ix2.Expires.Add(-index.DefaultLifetime/2 + time.Minute))
	r, _ = s.Verify(ctx)
	assert.Equal(t, 0, r.Count(ProblemExpiring))
	require.NoError(t, s.Reindex(ctx))
	ix3 := readIndex(t, s, "fec01")
	assert.Greater(t, ix3.Serial, ix2.Serial)

	// Verify warns a day ahead of the expiry.
	clk.set(ix3.Expires.Add(-time.Hour))
	r, _ = s.Verify(ctx)
	assert.Equal(t, 1, r.Count(ProblemExpiring))
	assert.Contains(t, r.Problems[0].Fix, "fecctl resign fec01")

	// Resign always gives a new serial and expiry, same entries.
	require.NoError(t, s.Resign(ctx))
	ix4 := readIndex(t, s, "fec01")
	assert.Greater(t, ix4.Serial, ix3.Serial)
	assert.Equal(t, ix3.Entries, ix4.Entries)
	assert.Equal(t, clk.now().Add(index.DefaultLifetime), ix4.Expires)
}

// The writer never issues a lower serial: not when its clock goes back,
// not when the storage is restored from an older backup.
func TestSerialNeverGoesBack(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0}
	state := t.TempDir()
	base := t.TempDir()
	s, k := signedTestStorage(t, base, state, clk)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "fec02", "x86_64")
	backup := snapshotFiles(t, base)

	clk.set(t0.Add(time.Hour))
	require.NoError(t, s.Resign(ctx))
	latest := readIndex(t, s, "fec01").Serial

	// Restore the older storage, clock set back a day: the state file knows.
	restoreFiles(t, base, backup)
	clk.set(t0.Add(-24 * time.Hour))
	require.NoError(t, s.Resign(ctx, "fec02"))
	assert.Equal(t, latest+1, readIndex(t, s, "fec02").Serial)

	// State file lost too, clock still behind: the storage's highest serial
	// (fec02's) still wins for every FEC.
	require.NoError(t, os.Remove(filepath.Join(state, SerialFileName)))
	s2, err := Open(base, WithSigningKey(k), WithStateDir(state), WithClock(clk.now))
	require.NoError(t, err)
	require.NoError(t, s2.Resign(ctx, "fec01"))
	assert.Equal(t, latest+2, readIndex(t, s2, "fec01").Serial)

	// A broken state file is an error that says what to do, and nothing is written.
	require.NoError(t, os.WriteFile(filepath.Join(state, SerialFileName), []byte("12x\n"), 0o644))
	before := snapshot(t, base)
	err = s2.Resign(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fix or remove it")
	assert.Equal(t, before, snapshot(t, base))
}

func TestResignNeedsKey(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	before := snapshot(t, s.Base())
	require.ErrorIs(t, s.Resign(ctx), ErrSigningKey)
	assert.Equal(t, before, snapshot(t, s.Base()))
	ix := readIndex(t, s, "fec01")
	assert.Zero(t, ix.Serial, "an unsigned INDEX carries no serial")
	assert.True(t, ix.Expires.IsZero(), "an unsigned INDEX never expires")
}

// snapshotFiles copies the regular files below dir (a backup).
func snapshotFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || strings.HasSuffix(p, LockName) {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = b
		return err
	}))
	return m
}

func restoreFiles(t *testing.T, _ string, m map[string][]byte) {
	t.Helper()
	for p, b := range m {
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
}
