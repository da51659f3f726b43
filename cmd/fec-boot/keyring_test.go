package main

import (
	"bytes"
	"crypto/ed25519"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root_keys in /etc/fecdeploy.conf makes the fec-boot binary follow the
// keyring: an INDEX signed by a key only the keyring names is accepted
// (public_keys, naming another key, is ignored), and a keyring signed by an
// unknown key is refused with exit 4 and one line saying why.
func TestRootKeysFollowKeyring(t *testing.T) {
	t.Parallel()
	root, online, other := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A_DU", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	ix := st.Index("fec01")
	ix.Serial, ix.Expires = 100, time.Now().Add(time.Hour)
	st.WriteIndex(t, "fec01", online.Private)
	putRing := func(signer ed25519.PrivateKey) {
		data, err := (&index.Keyring{Serial: 7, Expires: time.Now().Add(time.Hour), Keys: []ed25519.PublicKey{online.Public}}).Marshal()
		require.NoError(t, err)
		st.WriteRaw(t, "keys/keyring", data)
		st.WriteRaw(t, "keys/keyring.sig", index.Sign(signer, data))
	}
	srv := httptest.NewServer(st.Handler())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	conf := filepath.Join(dir, "fecdeploy.conf")
	require.NoError(t, os.WriteFile(conf, []byte("root_keys="+clienttest.KeyFile(t, root)+"\npublic_keys="+clienttest.KeyFile(t, other)+"\n"), 0o644))
	fecRoot := t.TempDir()
	boot := func() (int, string) {
		var stdout, stderr bytes.Buffer
		code := run([]string{"--cmdline", "none", "--conf", conf, "--start-jitter", "0", "--retries", "0", "--retry-wait-max", "500ms",
			"--url", srv.URL, "--fec", "fec01", "--root", fecRoot}, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}

	putRing(other.Private)
	code, out := boot()
	assert.Equal(t, 4, code, out)
	assert.Contains(t, out, "keyring signature does not verify with any trusted root key")
	assert.NoFileExists(t, filepath.Join(fecRoot, "opt/a/f"))

	putRing(root.Private)
	code, out = boot()
	require.Equal(t, 0, code, out)
	assert.Equal(t, "a", testkit.ReadFile(t, filepath.Join(fecRoot, "opt/a/f")))
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(fecRoot, "var/lib/fecdeploy/keyring-state")), "serial=7\nreset=0\n")
}
