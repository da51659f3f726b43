package storage

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func edKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return pub, priv
}

func storageFetch(s *Storage) index.KeyringFetch {
	return func(p string) ([]byte, []byte, error) {
		d, err := os.ReadFile(filepath.Join(s.Base(), p))
		if err != nil {
			return nil, nil, err
		}
		sig, err := os.ReadFile(filepath.Join(s.Base(), p+".sig"))
		return d, sig, err
	}
}

func TestKeyringAddRevokeRotate(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	s, err := Init(t.TempDir(), WithClock(clk.now))
	require.NoError(t, err)
	r1Pub, r1 := edKey(t)
	on1, _ := edKey(t)
	on2, _ := edKey(t)

	k, err := s.UpdateKeyring(ctx, r1, 0, nil, AddKey(on1))
	require.NoError(t, err)
	assert.Equal(t, clk.now().Add(index.KeyringLifetime), k.Expires)
	data, sig, err := s.ReadKeyring(ctx)
	require.NoError(t, err)
	got, err := index.VerifyKeyring(data, sig, []ed25519.PublicKey{r1Pub}, 0, clk.now(), true)
	require.NoError(t, err)
	assert.True(t, got.HasKey(on1))

	// Rotation of the online key: add the new one, then revoke the old one.
	clk.set(clk.now().Add(time.Hour))
	_, err = s.UpdateKeyring(ctx, r1, 0, nil, AddKey(on2))
	require.NoError(t, err)
	clk.set(clk.now().Add(time.Hour))
	k, err = s.UpdateKeyring(ctx, r1, 0, nil, RevokeKey(index.KeyID(on1)))
	require.NoError(t, err)
	assert.False(t, k.HasKey(on1))
	assert.True(t, k.HasKey(on2))
	assert.Equal(t, []string{index.KeyID(on1)}, k.Revoked)

	// Refusals change nothing: a revoked key cannot come back, the last key
	// cannot go, and a root key the keyring does not trust cannot sign.
	before := snapshot(t, s.Base())
	_, err = s.UpdateKeyring(ctx, r1, 0, nil, AddKey(on1))
	require.ErrorIs(t, err, ErrKeyring)
	_, err = s.UpdateKeyring(ctx, r1, 0, nil, RevokeKey(index.KeyID(on2)))
	require.ErrorIs(t, err, ErrKeyring)
	assert.Contains(t, err.Error(), "add the new key first")
	_, evil := edKey(t)
	_, err = s.UpdateKeyring(ctx, evil, 0, nil, KeepKeyring)
	require.ErrorIs(t, err, ErrKeyring)
	assert.Contains(t, err.Error(), "not signed by root key")
	assert.Equal(t, before, snapshot(t, s.Base()))

	// Two root rotations: r1 -> r2 -> r3. A FEC that pinned r1 and saw
	// nothing since walks the chain.
	r2Pub, r2 := edKey(t)
	r3Pub, r3 := edKey(t)
	clk.set(clk.now().Add(time.Hour))
	_, err = s.UpdateKeyring(ctx, r1, 0, []ed25519.PublicKey{r2Pub}, KeepKeyring)
	require.ErrorIs(t, err, ErrKeyring, "a hand-over without its successor")
	assert.Equal(t, before, snapshot(t, s.Base()))
	first, err := s.RotateRoot(ctx, r1, r2, 0)
	require.NoError(t, err)
	// Right after the hand-over, a FEC that trusts r1 walks the link and
	// verifies the current keyring with r2, at this boot and the next.
	rot, err := os.ReadFile(filepath.Join(s.Base(), "keys", index.KeyringRotationsFile))
	require.NoError(t, err)
	rotations, err := index.ParseRotations(rot)
	require.NoError(t, err)
	cur, roots, err := index.WalkKeyrings([]ed25519.PublicKey{r1Pub}, 0, rotations, clk.now(), true, storageFetch(s))
	require.NoError(t, err)
	assert.Equal(t, first.Serial, cur.Serial)
	assert.Greater(t, cur.Serial, rotations[0])
	assert.Equal(t, []ed25519.PublicKey{r2Pub}, roots)
	_, _, err = index.WalkKeyrings(roots, cur.Serial, rotations, clk.now(), true, storageFetch(s))
	require.NoError(t, err, "the next boot")
	_, err = s.UpdateKeyring(ctx, r1, 0, nil, KeepKeyring)
	require.ErrorIs(t, err, ErrKeyring, "after handing over, the old root can no longer sign")
	clk.set(clk.now().Add(time.Hour))
	_, err = s.RotateRoot(ctx, r2, r3, 0)
	require.NoError(t, err)
	clk.set(clk.now().Add(time.Hour))
	last, err := s.UpdateKeyring(ctx, r3, 0, nil, KeepKeyring)
	require.NoError(t, err)

	rot, err = os.ReadFile(filepath.Join(s.Base(), "keys", index.KeyringRotationsFile))
	require.NoError(t, err)
	rotations, err = index.ParseRotations(rot)
	require.NoError(t, err)
	require.Len(t, rotations, 2)
	cur, roots, err = index.WalkKeyrings([]ed25519.PublicKey{r1Pub}, 0, rotations, clk.now(), true, storageFetch(s))
	require.NoError(t, err)
	assert.Equal(t, last.Serial, cur.Serial)
	assert.Equal(t, []ed25519.PublicKey{r3Pub}, roots)
	assert.True(t, cur.HasKey(on2))
	// A FEC that pinned a key the chain never names refuses.
	_, _, err = index.WalkKeyrings([]ed25519.PublicKey{r2Pub}, 0, nil, clk.now(), true, storageFetch(s))
	require.ErrorIs(t, err, index.ErrKeyringSig)
}

func TestVerifyKeyring(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	_, signing := edKey(t)
	s, err := Init(t.TempDir(), WithClock(clk.now), WithSigningKey(signing))
	require.NoError(t, err)
	_, root := edKey(t)
	other, _ := edKey(t)
	_, err = s.UpdateKeyring(ctx, root, 0, nil, AddKey(other))
	require.NoError(t, err)
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.Count(ProblemBadSignature), "%+v", r.Problems)
	assert.Contains(t, r.Problems[0].Fix, "fecctl keyring add")
	_, err = s.UpdateKeyring(ctx, root, 0, nil, AddKey(signing.Public().(ed25519.PublicKey)))
	require.NoError(t, err)
	r, _ = s.Verify(ctx)
	assert.Equal(t, []Problem{}, r.Problems)
	clk.set(clk.now().Add(index.KeyringLifetime - 24*time.Hour))
	r, _ = s.Verify(ctx)
	assert.Equal(t, 1, r.Count(ProblemExpiring))
}

// A serial reset names a serial the writer issues at that moment (above
// every INDEX so far, also with the clock set back), makes the new key the
// only one, and stays in later keyrings; INDEX files signed afterwards are
// above it.
func TestKeyringResetSerials(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0}
	state := t.TempDir()
	s, _ := signedTestStorage(t, t.TempDir(), state, clk)
	mustAddFEC(t, s, "fec01", "x86_64")
	s0 := readIndex(t, s, "fec01").Serial
	_, r1 := edKey(t)
	on1, _ := edKey(t)
	on2, _ := edKey(t)
	_, err := s.UpdateKeyring(ctx, r1, 0, nil, AddKey(on1))
	require.NoError(t, err)

	clk.set(t0.Add(-time.Hour)) // the writer's clock went back
	k, err := s.UpdateKeyring(ctx, r1, 0, nil, s.ResetSerials(on2))
	require.NoError(t, err)
	assert.Equal(t, s0+1, k.Reset)
	assert.Equal(t, []ed25519.PublicKey{on2}, k.Keys)
	assert.Equal(t, []string{index.KeyID(on1)}, k.Revoked)
	st, err := os.ReadFile(filepath.Join(state, SerialFileName))
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatUint(s0+1, 10)+"\n", string(st), "the reset serial is issued and recorded")

	require.NoError(t, s.Resign(ctx))
	assert.Greater(t, readIndex(t, s, "fec01").Serial, k.Reset, "INDEX files signed after the reset are above it")

	k2, err := s.UpdateKeyring(ctx, r1, 0, nil, KeepKeyring)
	require.NoError(t, err)
	assert.Equal(t, k.Reset, k2.Reset, "later keyrings carry the reset on")

	// A revoked key cannot be the key of a reset; nothing changes.
	before, _, err := s.ReadKeyring(ctx)
	require.NoError(t, err)
	_, err = s.UpdateKeyring(ctx, r1, 0, nil, s.ResetSerials(on1))
	require.ErrorIs(t, err, ErrKeyring)
	after, _, err := s.ReadKeyring(ctx)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))
}
