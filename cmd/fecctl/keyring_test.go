package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyringCommands(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	t.Setenv("FECDEPLOY_STATE_DIR", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	ok := func(args ...string) string {
		t.Helper()
		code, out, errs := fecctl(t, args...)
		require.Equal(t, 0, code, "fecctl %v: %s", args, errs)
		return out
	}
	ok("init")
	assert.Contains(t, ok("keygen", "-root", filepath.Join(dir, "root")), "keep it offline")
	ok("keygen", filepath.Join(dir, "on1"))
	ok("keygen", filepath.Join(dir, "on2"))
	root := "-root-key=" + filepath.Join(dir, "root.key")

	code, _, errs := fecctl(t, "keyring", "add", filepath.Join(dir, "on1.pub"))
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, errs, "give -root-key FILE")
	assert.Contains(t, ok("keyring", "add", root, filepath.Join(dir, "on1.pub")), "1 keys")
	assert.Contains(t, ok("keyring", "add", root, filepath.Join(dir, "on2.pub")), "2 keys")
	assert.Contains(t, ok("keyring", "revoke", root, filepath.Join(dir, "on1.pub")), "1 keys")
	show := ok("keyring", "show")
	pub2, _ := os.ReadFile(filepath.Join(dir, "on2.pub"))
	k2, err := index.ParsePublicKeys(pub2)
	require.NoError(t, err)
	assert.Contains(t, show, "key "+index.KeyID(k2[0]))
	assert.Contains(t, show, "revoked ")

	// The keyring verifies with the root's public key, the way a FEC checks it.
	rootPub, err := os.ReadFile(filepath.Join(dir, "root.pub"))
	require.NoError(t, err)
	roots, err := index.ParsePublicKeys(rootPub)
	require.NoError(t, err)
	data, _ := os.ReadFile(filepath.Join(base, "keys/keyring"))
	sig, _ := os.ReadFile(filepath.Join(base, "keys/keyring.sig"))
	_, err = index.VerifyKeyring(data, sig, []ed25519.PublicKey(roots), 0, time.Now(), true)
	require.NoError(t, err)

	// Signed with another key: refused (exit 4), nothing changes.
	code, _, errs = fecctl(t, "keyring", "resign", "-root-key="+filepath.Join(dir, "on2.key"))
	assert.Equal(t, cli.ExitRefused, code, errs)
	after, _ := os.ReadFile(filepath.Join(base, "keys/keyring"))
	assert.Equal(t, string(data), string(after))
	// A serial reset: the new key is the only one, the reset is shown.
	ok("keygen", filepath.Join(dir, "on3"))
	out := ok("keyring", "reset-serial", root, filepath.Join(dir, "on3.pub"))
	assert.Contains(t, out, "serial reset ")
	assert.Contains(t, out, "fecctl resign -sign-key")
	show = ok("keyring", "show")
	assert.Contains(t, show, "serial reset ")
	assert.NotContains(t, show, "key "+index.KeyID(k2[0]))
	code, _, errs = fecctl(t, "keyring", "reset-serial", root)
	assert.Equal(t, cli.ExitUsage, code, errs)

	// A root rotation needs the new root's private key: the current keyring
	// is then signed by it, the hand-over kept as a link.
	ok("keygen", "-root", filepath.Join(dir, "root2"))
	code, _, errs = fecctl(t, "keyring", "set-root", root)
	assert.Equal(t, cli.ExitUsage, code, errs)
	assert.Contains(t, errs, "-new-root-key")
	ok("keyring", "set-root", root, "-new-root-key="+filepath.Join(dir, "root2.key"))
	rot, err := os.ReadFile(filepath.Join(base, "keys", index.KeyringRotationsFile))
	require.NoError(t, err)
	rotations, err := index.ParseRotations(rot)
	require.NoError(t, err)
	require.Len(t, rotations, 1)
	root2Pub, err := os.ReadFile(filepath.Join(dir, "root2.pub"))
	require.NoError(t, err)
	roots2, err := index.ParsePublicKeys(root2Pub)
	require.NoError(t, err)
	data, _ = os.ReadFile(filepath.Join(base, "keys/keyring"))
	sig, _ = os.ReadFile(filepath.Join(base, "keys/keyring.sig"))
	_, err = index.VerifyKeyring(data, sig, roots2, 0, time.Now(), true)
	require.NoError(t, err, "the current keyring is signed by the new root")

	code, _, errs = fecctl(t, "keyring", "frobnicate")
	assert.Equal(t, cli.ExitUsage, code)
	assert.True(t, strings.Contains(errs, "unknown action"), errs)
}
