package fec

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
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
	ringState := func() string { return testkit.ReadFile(t, filepath.Join(state, KeyringStateFile)) }
	assert.Equal(t, "serial=10\nreset=0\n"+string(index.PublicKeyPEM(r1.Public)), ringState())

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
	assert.Contains(t, ringState(), "serial=20\n")

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
	assert.Equal(t, "serial=60\nreset=0\n"+string(index.PublicKeyPEM(r3.Public)), ringState())
	// From now on r1 no longer counts: a keyring it signs is refused.
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 70, Expires: year, Keys: []ed25519.PublicKey{on1.Public}}, r1.Private)
	require.ErrorIs(t, boot(), index.ErrKeyringSig)
}

// A serial reset: a leaked key signed a huge serial and the FEC accepted it.
// The root holder rotates the online key and names a reset in the keyring;
// the FEC then accepts an INDEX from the reset serial on, signed by the new
// key, once; replays below the new serial and anything signed by the
// leaked key stay refused.
func TestBootSerialReset(t *testing.T) {
	t.Parallel()
	r1, leaked, on2 := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	year := time.Now().Add(365 * 24 * time.Hour)
	week := time.Now().Add(7 * 24 * time.Hour)
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 10, Expires: year, Keys: []ed25519.PublicKey{leaked.Public}}, r1.Private)
	const huge = 9999999999999999999
	signIndexAt(t, st, leaked, huge, week)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	cfg.RootKeys = []ed25519.PublicKey{r1.Public}
	state := filepath.Join(cfg.Root, "var/lib/fecdeploy")
	boot := func() error { _, err := Boot(context.Background(), cfg); return err }
	require.NoError(t, boot())
	assert.Equal(t, "9999999999999999999\n", testkit.ReadFile(t, filepath.Join(state, AcceptedSerialFile)))

	// Without a reset, the writer's next INDEX is a replay to this FEC.
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 20, Expires: year, Keys: []ed25519.PublicKey{on2.Public},
		Revoked: []string{index.KeyID(leaked.Public)}}, r1.Private)
	signIndexAt(t, st, on2, 1001, week)
	require.ErrorIs(t, boot(), index.ErrReplay)

	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 30, Expires: year, Keys: []ed25519.PublicKey{on2.Public},
		Revoked: []string{index.KeyID(leaked.Public)}, Reset: 1000}, r1.Private)
	require.NoError(t, boot())
	assert.Equal(t, "1001\n", testkit.ReadFile(t, filepath.Join(state, AcceptedSerialFile)))
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(state, KeyringStateFile)), "serial=30\nreset=1000\n")

	// Applied once: a later keyring carries the reset on, but an INDEX
	// between the reset and the accepted serial is a replay again.
	before := testkit.Snapshot(t, cfg.Root, skipStatus)
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 40, Expires: year, Keys: []ed25519.PublicKey{on2.Public},
		Revoked: []string{index.KeyID(leaked.Public)}, Reset: 1000}, r1.Private)
	signIndexAt(t, st, on2, 1000, week)
	require.ErrorIs(t, boot(), index.ErrReplay)
	// The leaked key's huge serial no longer verifies.
	signIndexAt(t, st, leaked, huge, week)
	require.ErrorIs(t, boot(), index.ErrBadSignature)
	assert.Equal(t, before, testkit.Snapshot(t, cfg.Root, skipStatus), "refusals change nothing")
	signIndexAt(t, st, on2, 1002, week)
	require.NoError(t, boot())
}

// A keyring change renames keys/keyring, then keys/keyring.sig: a FEC that
// fetched between the two holds a pair that does not verify. The first
// keyring.sig answer here is a signature over other bytes; the boot fetches
// the keyring again and succeeds.
func TestBootKeyringChangeRace(t *testing.T) {
	t.Parallel()
	root, on := clienttest.NewKey(t), clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	signIndexAt(t, st, on, 100, time.Now().Add(7*24*time.Hour))
	putKeyring(t, st, "keys/keyring", &index.Keyring{Serial: 5, Expires: time.Now().Add(time.Hour), Keys: []ed25519.PublicKey{on.Public}}, root.Private)
	var sigs atomic.Int32
	files := st.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys/keyring.sig" && sigs.Add(1) == 1 {
			w.Write(bytes.Repeat([]byte{7}, 64)) // the signature of the keyring before
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(t, srv.URL, "fec01")
	cfg.RootKeys = []ed25519.PublicKey{root.Public}
	_, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, int32(2), sigs.Load(), "keyring.sig requests")
}
