package client_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// keyringStorage is a storage with software for fec01, signed by on at
// serial 100, and a server for it.
func keyringStorage(t *testing.T, on clienttest.Key) (*clienttest.Storage, string) {
	t.Helper()
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	signedAt(t, st, on, 100, time.Now().Add(7*24*time.Hour))
	return st, testenv.StartNginx(t, st.Dir, testenv.NginxOptions{}).URL
}

func writeKeyring(t *testing.T, st *clienttest.Storage, data []byte, signer ed25519.PrivateKey) {
	t.Helper()
	st.WriteRaw(t, "keys/keyring", data)
	st.WriteRaw(t, "keys/keyring.sig", index.Sign(signer, data))
}

// A keyring signed by the root but malformed is refused by the shell client
// (exit 4, one line why, nothing installed) exactly where index.ParseKeyring
// refuses it; a well-formed one is accepted by both.
func TestShellKeyringParseRules(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "openssl")
	root, on := clienttest.NewKey(t), clienttest.NewKey(t)
	der, err := x509.MarshalPKIXPublicKey(on.Public)
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString(der)
	id := index.KeyID(on.Public)
	exp := time.Now().Add(time.Hour).Unix()
	head := "fecdeploy-keyring 1 serial=5 expires=" + itoa(exp) + "\n"
	keyLine := "key " + id + " " + b64 + "\n"
	rsa := "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" // not ed25519
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"good", head + keyLine, true},
		{"good with reset and revoked", head + keyLine + "revoked 0011223344556677\nreset 42\n", true},
		{"root line", head + "root " + id + " " + b64 + "\n" + keyLine, true},
		{"no newline", strings.TrimSuffix(head+keyLine, "\n"), false},
		{"version 2", strings.Replace(head, " 1 ", " 2 ", 1) + keyLine, false},
		{"serial 0", strings.Replace(head, "serial=5", "serial=0", 1) + keyLine, false},
		{"serial leading zero", strings.Replace(head, "serial=5", "serial=05", 1) + keyLine, false},
		{"expires beyond", strings.Replace(head, "expires="+itoa(exp), "expires=4611686019", 1) + keyLine, false},
		{"no keys", head, false},
		{"id mismatch", head + "key 0000000000000000 " + b64 + "\n", false},
		{"not ed25519", head + "key " + id + " " + rsa + "\n", false},
		{"listed and revoked", head + keyLine + "revoked " + id + "\n", false},
		{"unknown line", head + keyLine + "maybe x y\n", false},
		{"double space", head + strings.Replace(keyLine, " ", "  ", 1), false},
		{"empty line", head + "\n" + keyLine, false},
		{"reset 0", head + keyLine + "reset 0\n", false},
		{"reset twice", head + keyLine + "reset 7\nreset 8\n", false},
		{"revoked upper case", head + keyLine + "revoked 00112233445566FF\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, goErr := index.ParseKeyring([]byte(tc.data))
			assert.Equal(t, tc.ok, goErr == nil, "index.ParseKeyring: %v", goErr)
			st, url := keyringStorage(t, on)
			writeKeyring(t, st, []byte(tc.data), root.Private)
			fecRoot := t.TempDir()
			r := sh.Run(t, env(url, fecRoot, "FECDEPLOY_ROOT_KEYS="+clienttest.KeyFile(t, root)))
			if tc.ok {
				assert.Equal(t, 0, r.Code, r.Stderr)
				return
			}
			assert.Equal(t, 4, r.Code, r.Stderr)
			assert.Contains(t, r.Stderr, "keyring refused: keys/keyring: malformed keyring")
			onlyState(t, fecRoot)
			assert.NoFileExists(t, filepath.Join(fecRoot, "var/lib/fecdeploy/keyring-state"))
		})
	}
}

// The keyring follows the INDEX's clock policy: expired and a sane clock is
// refused; a clock before the client's date checks the serial only; a clock
// at 2038 sees it expired.
func TestShellKeyringClock(t *testing.T) {
	t.Parallel()
	root, on := clienttest.NewKey(t), clienttest.NewKey(t)
	st, url := keyringStorage(t, on)
	signedAt(t, st, on, 100, time.Time{}) // the INDEX never expires: only the keyring's expiry counts
	data, err := (&index.Keyring{Serial: 5, Expires: time.Now().Add(-time.Hour), Keys: []ed25519.PublicKey{on.Public}}).Marshal()
	require.NoError(t, err)
	writeKeyring(t, st, data, root.Private)
	rootKeys := "FECDEPLOY_ROOT_KEYS=" + clienttest.KeyFile(t, root)

	sh := clienttest.NewShell(t, "openssl")
	r := sh.Run(t, env(url, t.TempDir(), rootKeys))
	assert.Equal(t, 4, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "keyring has expired")

	sh.SetClock(t, 0)
	fecRoot := t.TempDir()
	r = sh.Run(t, env(url, fecRoot, rootKeys))
	assert.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(fecRoot, "var/lib/fecdeploy/keyring-state")), "serial=5\nreset=0\n")

	data, err = (&index.Keyring{Serial: 6, Expires: time.Now().Add(time.Hour), Keys: []ed25519.PublicKey{on.Public}}).Marshal()
	require.NoError(t, err)
	writeKeyring(t, st, data, root.Private)
	sh.SetClock(t, 2147483648)
	r = sh.Run(t, env(url, fecRoot, rootKeys))
	assert.Equal(t, 4, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "keyring has expired")
}

// root_keys without openssl: refused (exit 2), never booted unverified; a
// damaged keyring state: exit 5, nothing installed.
func TestShellKeyringRefusals(t *testing.T) {
	t.Parallel()
	root, on := clienttest.NewKey(t), clienttest.NewKey(t)
	st, url := keyringStorage(t, on)
	data, err := (&index.Keyring{Serial: 5, Expires: time.Now().Add(time.Hour), Keys: []ed25519.PublicKey{on.Public}}).Marshal()
	require.NoError(t, err)
	writeKeyring(t, st, data, root.Private)
	rootKeys := "FECDEPLOY_ROOT_KEYS=" + clienttest.KeyFile(t, root)

	fecRoot := t.TempDir()
	r := clienttest.NewShell(t).Run(t, env(url, fecRoot, rootKeys))
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "root keys are configured")
	assert.Contains(t, r.Stderr, "no openssl binary")
	onlyState(t, fecRoot)

	require.NoError(t, os.MkdirAll(filepath.Join(fecRoot, "var/lib/fecdeploy"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(fecRoot, "var/lib/fecdeploy/keyring-state"), []byte("serial=x\n"), 0o644))
	r = clienttest.NewShell(t, "openssl").Run(t, env(url, fecRoot, rootKeys))
	assert.Equal(t, 5, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "keyring-state is damaged")
	onlyState(t, fecRoot)

	// A missing or non-PEM key file: exit 2 before anything is fetched or
	// written, naming the file and which setting it came from.
	notPEM := filepath.Join(t.TempDir(), "key.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a key\n"), 0o644))
	for _, c := range []struct{ setting, file, want string }{
		{"FECDEPLOY_ROOT_KEYS", "/nonexistent/root.pub", "reading root key file: /nonexistent/root.pub does not exist"},
		{"FECDEPLOY_ROOT_KEYS", notPEM, "root key file " + notPEM + ": no PEM"},
		{"FECDEPLOY_PUBLIC_KEYS", "/nonexistent/signing.pub", "reading public key file: /nonexistent/signing.pub does not exist"},
		{"FECDEPLOY_PUBLIC_KEYS", notPEM, "public key file " + notPEM + ": no PEM"},
	} {
		empty := t.TempDir()
		r = clienttest.NewShell(t, "openssl").Run(t, env(url, empty, c.setting+"="+c.file))
		assert.Equal(t, 2, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, c.want)
		onlyState(t, empty)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A keyring change renames keys/keyring, then keys/keyring.sig: a FEC that
// fetched between the two holds a pair that does not verify. The server
// here answers the first keyring.sig request with a signature over other
// bytes; the shell client fetches the keyring again and boots, as the Go
// client does.
func TestShellKeyringChangeRace(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "openssl")
	root, on := clienttest.NewKey(t), clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	signedAt(t, st, on, 100, time.Now().Add(7*24*time.Hour))
	data, err := (&index.Keyring{Serial: 5, Expires: time.Now().Add(time.Hour), Keys: []ed25519.PublicKey{on.Public}}).Marshal()
	require.NoError(t, err)
	writeKeyring(t, st, data, root.Private)
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
	fecRoot := t.TempDir()
	r := sh.Run(t, env(srv.URL, fecRoot, "FECDEPLOY_ROOT_KEYS="+clienttest.KeyFile(t, root)))
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "fetching it again")
	assert.Equal(t, int32(2), sigs.Load(), "keyring.sig requests")
	assert.Equal(t, "a", testkit.ReadFile(t, filepath.Join(fecRoot, "opt/a/f")))
}
