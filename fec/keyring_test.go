package fec

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func putKeyring(t *testing.T, st *clienttest.Storage, rel string, k *index.Keyring, signer ed25519.PrivateKey) {
	t.Helper()
	data, err := k.Marshal()
	require.NoError(t, err)
	st.WriteRaw(t, rel, data)
	st.WriteRaw(t, rel+".sig", index.Sign(signer, data))
}

func TestBootFollowsKeyring(t *testing.T) {
	t.Parallel()
	r1, r2, r3 := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
	on1, on2 := clienttest.NewKey(t), clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	year := time.Now().Add(365 * 24 * time.Hour)
	week := time.Now().Add(7 * 24 * time.Hour)
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 10, Expires: year, Keys: []ed25519.PublicKey{on1.Public}}, r1.Private)
	signIndexAt(t, st, on1, 100, week)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	cfg.RootKeys = []ed25519.PublicKey{r1.Public}
	state := filepath.Join(cfg.Root, "var/lib/fecdeploy")
	boot := func() error { _, err := Boot(context.Background(), cfg); return err }

	require.NoError(t, boot())
	assert.Equal(t, "10\n", testkit.ReadFile(t, filepath.Join(state, KeyringSerialFile)))

	// The online key is rotated and on1 revoked: an INDEX still signed by
	// on1 is refused, one signed by on2 accepted.
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 20, Expires: year, Keys: []ed25519.PublicKey{on2.Public},
		Revoked: []string{index.KeyID(on1.Public)}}, r1.Private)
	signIndexAt(t, st, on1, 101, week)
	before := testkit.Snapshot(t, cfg.Root, skipStatus)
	err := boot()
	require.ErrorIs(t, err, index.ErrBadSignature)
	assert.Equal(t, before, testkit.Snapshot(t, cfg.Root, skipStatus), "nothing recorded for a refused INDEX")
	signIndexAt(t, st, on2, 102, week)
	require.NoError(t, boot())
	assert.Equal(t, "20\n", testkit.ReadFile(t, filepath.Join(state, KeyringSerialFile)))

	// A keyring signed by an unknown key, and an older keyring: refused.
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 30, Expires: year, Keys: []ed25519.PublicKey{on2.Public}}, on2.Private)
	require.ErrorIs(t, boot(), index.ErrKeyringSig)
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 15, Expires: year, Keys: []ed25519.PublicKey{on2.Public}}, r1.Private)
	require.ErrorIs(t, boot(), index.ErrKeyringReplay)

	// Two root rotations while this FEC is offline: r1 -> r2 -> r3.
	putKeyring(t, st, "keys/keyring.40", &index.Keyring{Serial: 40, Expires: year, Roots: []ed25519.PublicKey{r2.Public}, Keys: []ed25519.PublicKey{on2.Public}}, r1.Private)
	putKeyring(t, st, "keys/keyring.50", &index.Keyring{Serial: 50, Expires: year, Roots: []ed25519.PublicKey{r3.Public}, Keys: []ed25519.PublicKey{on2.Public}}, r2.Private)
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 60, Expires: year, Keys: []ed25519.PublicKey{on2.Public}}, r3.Private)
	st.WriteRaw(t, "keys/rotations", []byte("40\n50\n"))
	signIndexAt(t, st, on2, 103, week)
	require.NoError(t, boot())
	assert.Equal(t, "60\n", testkit.ReadFile(t, filepath.Join(state, KeyringSerialFile)))
	assert.Equal(t, string(index.PublicKeyPEM(r3.Public)), testkit.ReadFile(t, filepath.Join(state, KeyringRootsFile)))
	// From now on r1 no longer counts: a keyring it signs is refused.
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 70, Expires: year, Keys: []ed25519.PublicKey{on1.Public}}, r1.Private)
	require.ErrorIs(t, boot(), index.ErrKeyringSig)
}
