package index

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newEdKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return pub, priv
}

var kNow = time.Unix(1764676800, 0).UTC()

func signedKeyring(t *testing.T, k *Keyring, signer ed25519.PrivateKey) ([]byte, []byte) {
	t.Helper()
	data, err := k.Marshal()
	require.NoError(t, err)
	return data, Sign(signer, data)
}

func TestKeyringRoundTripAndVerify(t *testing.T) {
	t.Parallel()
	rootPub, root := newEdKey(t)
	on1, _ := newEdKey(t)
	on2, _ := newEdKey(t)
	k := &Keyring{Serial: 5, Expires: kNow.Add(time.Hour), Keys: []ed25519.PublicKey{on2, on1}, Revoked: []string{"00112233445566ff"}}
	data, sig := signedKeyring(t, k, root)
	got, err := VerifyKeyring(data, sig, []ed25519.PublicKey{rootPub}, 5, kNow, true)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), got.Serial)
	assert.True(t, got.HasKey(on1) && got.HasKey(on2))
	again, err := got.Marshal()
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again), "canonical")

	// The PEM body of each key is one line of the keyring (for openssl).
	assert.Contains(t, string(data), "key "+KeyID(on1)+" ")
	assert.Contains(t, string(PublicKeyPEM(on1)), encodeKey(on1))

	other, otherPriv := newEdKey(t)
	_, err = VerifyKeyring(data, sig, []ed25519.PublicKey{other}, 0, kNow, true)
	require.ErrorIs(t, err, ErrKeyringSig, "a keyring signed by an unknown key")
	d2, s2 := signedKeyring(t, k, otherPriv)
	_, err = VerifyKeyring(d2, s2, []ed25519.PublicKey{rootPub}, 0, kNow, true)
	require.ErrorIs(t, err, ErrKeyringSig)
	_, err = VerifyKeyring(data, sig, []ed25519.PublicKey{rootPub}, 6, kNow, true)
	require.ErrorIs(t, err, ErrKeyringReplay)
	_, err = VerifyKeyring(data, sig, []ed25519.PublicKey{rootPub}, 0, kNow.Add(time.Hour), true)
	require.ErrorIs(t, err, ErrKeyringExpired)
	_, err = VerifyKeyring(data, sig, []ed25519.PublicKey{rootPub}, 0, kNow.Add(time.Hour), false)
	require.NoError(t, err, "an insane clock cannot judge expiry")
	_ = other
}

func TestKeyringRefusesMalformed(t *testing.T) {
	t.Parallel()
	on, _ := newEdKey(t)
	good, err := (&Keyring{Serial: 1, Expires: kNow, Keys: []ed25519.PublicKey{on}}).Marshal()
	require.NoError(t, err)
	line := string(good[len("fecdeploy-keyring 1 serial=1 expires=1764676800\n"):])
	for name, in := range map[string]string{
		"no newline":   string(good[:len(good)-1]),
		"version 2":    "fecdeploy-keyring 2 serial=1 expires=5\n" + line,
		"serial 0":     "fecdeploy-keyring 1 serial=0 expires=5\n" + line,
		"no keys":      "fecdeploy-keyring 1 serial=1 expires=5\n",
		"id mismatch":  "fecdeploy-keyring 1 serial=1 expires=5\nkey 0000000000000000 " + encodeKey(on) + "\n",
		"listed+revok": "fecdeploy-keyring 1 serial=1 expires=5\n" + line + "revoked " + KeyID(on) + "\n",
		"unknown line": "fecdeploy-keyring 1 serial=1 expires=5\n" + line + "maybe x y\n",
		"reset 0":      "fecdeploy-keyring 1 serial=1 expires=5\n" + line + "reset 0\n",
		"reset 01":     "fecdeploy-keyring 1 serial=1 expires=5\n" + line + "reset 01\n",
		"reset twice":  "fecdeploy-keyring 1 serial=1 expires=5\n" + line + "reset 7\nreset 8\n",
		"reset no num": "fecdeploy-keyring 1 serial=1 expires=5\n" + line + "reset\n",
	} {
		_, err := ParseKeyring([]byte(in))
		assert.ErrorIs(t, err, ErrKeyring, name)
	}
}

// A FEC that was offline across two root rotations walks v1 -> v2 -> v3.
func TestWalkKeyringsAcrossRotations(t *testing.T) {
	t.Parallel()
	r1Pub, r1 := newEdKey(t)
	r2Pub, r2 := newEdKey(t)
	r3Pub, r3 := newEdKey(t)
	on, _ := newEdKey(t)
	files := map[string][2][]byte{}
	put := func(p string, k *Keyring, signer ed25519.PrivateKey) {
		d, s := signedKeyring(t, k, signer)
		files[p] = [2][]byte{d, s}
	}
	exp := kNow.Add(-48 * time.Hour) // old links of the chain may have expired
	put(KeyringVersionURLPath(10), &Keyring{Serial: 10, Expires: exp, Roots: []ed25519.PublicKey{r2Pub}, Keys: []ed25519.PublicKey{on}}, r1)
	put(KeyringVersionURLPath(20), &Keyring{Serial: 20, Expires: exp, Roots: []ed25519.PublicKey{r3Pub}, Keys: []ed25519.PublicKey{on}}, r2)
	put(KeyringURLPath(), &Keyring{Serial: 30, Expires: kNow.Add(time.Hour), Keys: []ed25519.PublicKey{on}}, r3)
	fetches := 0
	fetch := func(p string) ([]byte, []byte, error) {
		fetches++
		f, ok := files[p]
		if !ok {
			return nil, nil, os.ErrNotExist
		}
		return f[0], f[1], nil
	}
	k, roots, err := WalkKeyrings([]ed25519.PublicKey{r1Pub}, 1, []uint64{10, 20}, kNow, true, fetch)
	require.NoError(t, err)
	assert.Equal(t, uint64(30), k.Serial)
	assert.Equal(t, []ed25519.PublicKey{r3Pub}, roots)
	assert.Equal(t, 3, fetches)

	// Already at 20: only the current one is fetched, verified with r3.
	fetches = 0
	_, _, err = WalkKeyrings([]ed25519.PublicKey{r3Pub}, 20, []uint64{10, 20}, kNow, true, fetch)
	require.NoError(t, err)
	assert.Equal(t, 1, fetches)

	// A missing link of the chain: refused, the roots stay as they were.
	_, _, err = WalkKeyrings([]ed25519.PublicKey{r1Pub}, 1, []uint64{20}, kNow, true, fetch)
	require.ErrorIs(t, err, ErrKeyringSig)
	// A forged rotation signed by an unknown key.
	evilPub, evil := newEdKey(t)
	put(KeyringVersionURLPath(10), &Keyring{Serial: 10, Expires: exp, Roots: []ed25519.PublicKey{evilPub}, Keys: []ed25519.PublicKey{evilPub}}, evil)
	_, _, err = WalkKeyrings([]ed25519.PublicKey{r1Pub}, 1, []uint64{10, 20}, kNow, true, fetch)
	require.True(t, errors.Is(err, ErrKeyringSig), "%v", err)
	_ = r3
}

// A serial reset is carried in the signed keyring and applied once: it
// lowers a FEC's floor to min(accepted, reset), never raises it.
func TestKeyringResetRoundTripAndApply(t *testing.T) {
	t.Parallel()
	on, _ := newEdKey(t)
	k := &Keyring{Serial: 9, Expires: kNow, Keys: []ed25519.PublicKey{on}, Reset: 500}
	data, err := k.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(data), "\nreset 500\n")
	got, err := ParseKeyring(data)
	require.NoError(t, err)
	assert.Equal(t, uint64(500), got.Reset)

	for _, tc := range []struct {
		name              string
		accepted, applied uint64
		ring              *Keyring
		floor             uint64
		reset             bool
	}{
		{"no keyring", 900, 0, nil, 900, false},
		{"no reset", 900, 0, &Keyring{}, 900, false},
		{"lowers a too high serial", 900, 0, got, 500, true},
		{"a FEC below the reset keeps its floor", 300, 0, got, 300, true},
		{"a new FEC", 0, 0, got, 0, true},
		{"applied already: not again", 900, 500, got, 900, false},
		{"an older reset is not applied", 900, 600, got, 900, false},
	} {
		floor, reset := ApplyReset(tc.accepted, tc.applied, tc.ring)
		assert.Equal(t, tc.floor, floor, tc.name)
		assert.Equal(t, tc.reset, reset, tc.name)
	}
}
