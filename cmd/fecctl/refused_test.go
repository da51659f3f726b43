package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signedStorage builds, with the signing key, a storage whose every INDEX is
// signed: scu01 and scu02 run Foo_DU 2.0.0 (1.0.0 is kept), scu01 also
// Foo_DU-instance 2.0.0 and the shared init script 10-net; Bar_DU 1.0.0 is
// published, unlinked. It returns the base and the key file.
func signedStorage(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	t.Chdir(dir)
	code, _, errs := fecctl(t, "keygen", filepath.Join(dir, "keys", "signing"))
	require.Equal(t, 0, code, errs)
	keyFile := filepath.Join(dir, "keys", "signing.key")
	key, err := cli.LoadSigningKey(keyFile)
	require.NoError(t, err)
	ctx := context.Background()
	st, err := storage.Init(base, storage.WithSigningKey(key))
	require.NoError(t, err)
	for _, f := range []string{"scu01", "scu02"} {
		require.NoError(t, st.AddFEC(ctx, f, storage.FECConfig{Arch: "x86_64"}))
	}
	pub := func(kind index.Kind, name, ver, arch string) {
		body := clienttest.TarGz(t, clienttest.Tree("opt/"+name+"/"+ver, map[string]string{"f": name + ver}))
		_, err := st.Publish(ctx, storage.PublishRequest{Kind: kind, Name: name, Version: version.MustParse(ver), Arch: arch, Body: strings.NewReader(string(body))})
		require.NoError(t, err)
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		pub(index.KindSoftware, "Foo_DU", v, "x86_64")
		pub(index.KindConfiguration, "Foo_DU-instance", v, "")
	}
	pub(index.KindSoftware, "Bar_DU", "1.0.0", "x86_64")
	for _, f := range []string{"scu01", "scu02"} {
		require.NoError(t, st.Link(ctx, f, index.KindSoftware, "Foo_DU", "1.0.0"))
		require.NoError(t, st.Link(ctx, f, index.KindSoftware, "Foo_DU", "2.0.0"))
	}
	require.NoError(t, st.Link(ctx, "scu01", index.KindConfiguration, "Foo_DU-instance", "2.0.0"))
	require.NoError(t, st.AddGlobalScript(ctx, "10-net", strings.NewReader("#!/bin/sh\necho net\n")))
	require.NoError(t, st.LinkInit(ctx, "scu01", "10-net"))
	for _, f := range []string{"scu01", "scu02"} {
		require.FileExists(t, filepath.Join(base, "fecs", f, index.SigFileName))
	}
	testkit.WriteTree(t, dir, map[string]string{
		"other.sh": "#!/bin/sh\necho other\n",
		"local.sh": "#!/bin/sh\necho local\n",
	})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "timing.tar.gz"), clienttest.TarGz(t, clienttest.Tree("opt/timing", map[string]string{"t": "1"})), 0o644))
	return base, keyFile
}

// snapshotAll is the whole tree, byte for byte (the lock file's holder line aside).
func snapshotAll(t *testing.T, base string) map[string]string {
	return testkit.Snapshot(t, base, testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == storage.LockName }})
}

// Every writing command of fecctl, on a signed storage without the key,
// exits 4 ("signing key required") and changes nothing; the ones that have
// nothing to change exit 0 and change nothing either.
func TestRefusedChangeChangesNothing(t *testing.T) {
	base, _ := signedStorage(t)
	before := snapshotAll(t, base)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"switch", "scu01", "Foo_DU", "1.0.0"}, cli.ExitRefused},
		{[]string{"switch", "-all-fecs", "Foo_DU", "1.0.0"}, cli.ExitRefused},
		{[]string{"switch", "-keep-instance", "scu01", "Foo_DU", "1.0.0"}, cli.ExitRefused},
		{[]string{"rollback", "scu01", "Foo_DU"}, cli.ExitRefused},
		{[]string{"rollback", "scu02", "Foo_DU"}, cli.ExitRefused},
		{[]string{"link", "scu01", "Bar_DU", "1.0.0"}, cli.ExitRefused},
		{[]string{"link", "-kind", "configuration", "scu02", "Foo_DU-instance", "2.0.0"}, cli.ExitRefused},
		{[]string{"unlink", "scu01", "Foo_DU"}, cli.ExitRefused},
		{[]string{"unlink", "-kind", "configuration", "scu01", "Foo_DU-instance"}, cli.ExitRefused},
		{[]string{"link-init", "scu02", "10-net"}, cli.ExitRefused},
		{[]string{"add-script", "10-net", "other.sh"}, cli.ExitRefused},
		{[]string{"put", "-kind", "init", "scu01", "20-local", "local.sh"}, cli.ExitRefused},
		{[]string{"put", "-kind", "configuration", "scu02", "timing", "timing.tar.gz"}, cli.ExitRefused},
		{[]string{"add-fec", "-arch", "x86_64", "scu03"}, cli.ExitRefused},
		{[]string{"sign"}, cli.ExitRefused},
		{[]string{"reindex"}, cli.ExitOK},          // nothing stale: nothing to sign
		{[]string{"verify", "-clean"}, cli.ExitOK}, // nothing left behind
	} {
		code, _, errs := fecctl(t, tc.args...)
		assert.Equal(t, tc.code, code, "fecctl %v: %s", tc.args, errs)
		if tc.code == cli.ExitRefused {
			assert.Contains(t, errs, "signing key", "fecctl %v", tc.args)
		}
		require.Equal(t, before, snapshotAll(t, base), "fecctl %v without the key changed the storage", tc.args)
	}
}

// The retry with the key does the switch and signs; a switch that finds the
// link already right but the INDEX stale rewrites (and signs) the INDEX.
func TestSwitchRetryWithKeyAndStaleIndex(t *testing.T) {
	base, keyFile := signedStorage(t)
	code, _, errs := fecctl(t, "switch", "scu02", "Foo_DU", "1.0.0")
	require.Equal(t, cli.ExitRefused, code, errs)
	code, out, errs := fecctl(t, "switch", "-sign-key", keyFile, "scu02", "Foo_DU", "1.0.0")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "scu02: Foo_DU 2.0.0 -> 1.0.0")
	idx := testkit.ReadFile(t, filepath.Join(base, "fecs/scu02/INDEX"))
	assert.Contains(t, idx, "software/Foo_DU/1.0.0/")
	verifySig(t, base, keyFile, "scu02")

	// The link moved by hand (as an interrupted tool would leave it): INDEX stale.
	link := filepath.Join(base, "fecs/scu02/software/Foo_DU")
	raw, err := os.Readlink(link)
	require.NoError(t, err)
	require.NoError(t, os.Remove(link))
	require.NoError(t, os.Symlink(strings.ReplaceAll(raw, "1.0.0", "2.0.0"), link))
	before := snapshotAll(t, base)
	code, _, errs = fecctl(t, "switch", "scu02", "Foo_DU", "2.0.0")
	assert.Equal(t, cli.ExitRefused, code, "stale signed INDEX without the key: %s", errs)
	assert.Equal(t, before, snapshotAll(t, base))
	code, out, errs = fecctl(t, "switch", "-sign-key", keyFile, "scu02", "Foo_DU", "2.0.0")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "already at 2.0.0")
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(base, "fecs/scu02/INDEX")), "software/Foo_DU/2.0.0/", "the stale INDEX was rewritten")
	verifySig(t, base, keyFile, "scu02")
	code, out, errs = fecctl(t, "verify")
	assert.Equal(t, 0, code, "%s%s", out, errs)
}

func verifySig(t *testing.T, base, keyFile, fec string) {
	t.Helper()
	pubs, err := index.ParsePublicKeys([]byte(testkit.ReadFile(t, strings.TrimSuffix(keyFile, ".key")+".pub")))
	require.NoError(t, err)
	data := testkit.ReadFile(t, filepath.Join(base, "fecs", fec, index.FileName))
	sig := testkit.ReadFile(t, filepath.Join(base, "fecs", fec, index.SigFileName))
	require.NoError(t, index.VerifySignature([]byte(data), []byte(sig), pubs), "INDEX.sig of %s", fec)
}
