package storage

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
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
	require.NoError(t, err)
	_, err = s.UpdateKeyring(ctx, r1, 0, nil, KeepKeyring)
	require.ErrorIs(t, err, ErrKeyring, "after handing over, the old root can no longer sign")
	clk.set(clk.now().Add(time.Hour))
	_, err = s.UpdateKeyring(ctx, r2, 0, []ed25519.PublicKey{r3Pub}, KeepKeyring)
	require.NoError(t, err)
	clk.set(clk.now().Add(time.Hour))
	last, err := s.UpdateKeyring(ctx, r3, 0, nil, KeepKeyring)
	require.NoError(t, err)

	rot, err := os.ReadFile(filepath.Join(s.Base(), "keys", index.KeyringRotationsFile))
	require.NoError(t, err)
	rotations, err := index.ParseRotations(rot)
	require.NoError(t, err)
	require.Len(t, rotations, 2)
	cur, roots, err := index.WalkKeyrings([]ed25519.PublicKey{r1Pub}, 0, rotations, clk.now(), true, storageFetch(s))
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
