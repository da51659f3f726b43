package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fecctl and fec-pack run in-process against a temp storage; this checks the
// wiring (flags, one library call, exit codes), the library has its own tests.

func fecctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestWorkflow(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	mustOK := func(args ...string) string {
		t.Helper()
		code, out, errs := fecctl(t, args...)
		require.Equal(t, 0, code, "fecctl %v: %s", args, errs)
		return out
	}
	mustOK("init")
	mustOK("add-fec", "-arch", "x86_64", "scu01")
	mustOK("add-fec", "-arch", "ppc", "ppc01")
	testkit.WriteTree(t, dir, map[string]string{"net.sh": "#!/bin/sh\necho net\n"})
	script := filepath.Join(dir, "net.sh")
	mustOK("add-script", "10-network", script)
	mustOK("link-init", "scu01", "10-network")

	var show struct {
		FEC     string        `json:"fec"`
		Entries []index.Entry `json:"entries"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustOK("show", "-json", "scu01")), &show))
	assert.Equal(t, "scu01", show.FEC)
	require.Len(t, show.Entries, 1)
	assert.Equal(t, "10-network", show.Entries[0].Name)
	out := mustOK("ls")
	assert.Contains(t, out, "ppc01")
	assert.Contains(t, out, "gzip,xz")
	assert.Contains(t, mustOK("verify"), "0 problems")

	// Keys and signing.
	mustOK("keygen", filepath.Join(dir, "keys", "signing"))
	keys := testkit.Snapshot(t, filepath.Join(dir, "keys"))
	code, _, _ := fecctl(t, "keygen", filepath.Join(dir, "keys", "signing"))
	assert.Equal(t, cli.ExitError, code, "keygen over an existing key")
	assert.Equal(t, keys, testkit.Snapshot(t, filepath.Join(dir, "keys")), "keys are never overwritten")
	mustOK("sign", "-sign-key", filepath.Join(dir, "keys", "signing.key"))
	data := testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX"))
	sig := testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX.sig"))
	pubs, err := index.ParsePublicKeys([]byte(testkit.ReadFile(t, filepath.Join(dir, "keys", "signing.pub"))))
	require.NoError(t, err)
	require.NoError(t, index.VerifySignature([]byte(data), []byte(sig), pubs), "signature")
	// Without the key, a change to the signed storage is refused.
	code, _, errs := fecctl(t, "unlink", "-kind", "init", "scu01", "10-network")
	assert.Equal(t, cli.ExitRefused, code, "unlink without the key: %s", errs)
	assert.Contains(t, errs, "signing key")
	assert.Equal(t, data, testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX")), "INDEX changed")
	mustOK("unlink", "-kind", "init", "-sign-key", filepath.Join(dir, "keys", "signing.key"), "scu01", "10-network")
	assert.Contains(t, mustOK("unsign"), "fecs/scu01/INDEX.sig")

	// The shell client comes out byte-identical.
	shell := filepath.Join(dir, "img", "fec-boot.sh")
	mustOK("write-shell-client", shell)
	st, err := os.Stat(shell)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	assert.Equal(t, string(client.Script), testkit.ReadFile(t, shell))
}

func TestBadInput(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	code, _, errs := fecctl(t, "init")
	require.Equal(t, 0, code, errs)
	code, _, errs = fecctl(t, "add-fec", "-arch", "x86_64", "scu01")
	require.Equal(t, 0, code, errs)
	snapshot := func() map[string]string {
		// the lock file's content names its last holder
		return testkit.Snapshot(t, base, testkit.SnapshotOptions{Skip: func(rel string) bool { return strings.HasPrefix(rel, ".lock") }})
	}
	testkit.WriteTree(t, dir, map[string]string{"notes.txt": "not an archive\n"})
	notArchive := filepath.Join(dir, "notes.txt")
	before := snapshot()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{}, cli.ExitUsage, "no command"},
		{[]string{"frobnicate"}, cli.ExitUsage, "unknown command"},
		{[]string{"add-fec", "-arch", "x86_64", "bad name"}, cli.ExitUsage, "' ' (space)"},
		{[]string{"add-fec", "-arch", "x86_64", "global"}, cli.ExitUsage, "shared init scripts"},
		{[]string{"add-fec", "scu02"}, cli.ExitUsage, "-arch is required"},
		{[]string{"add-fec", "-arch", "x86_64", "scu01"}, cli.ExitRefused, "scu01"},
		{[]string{"link", "nofec", "Foo", "1.0.0"}, cli.ExitNotFound, "nofec"},
		{[]string{"link", "scu01", "Foo", "1.0.0"}, cli.ExitNotFound, "Foo"},
		{[]string{"link", "scu01", "Foo"}, cli.ExitUsage, "FEC NAME VERSION"},
		{[]string{"show", "nofec"}, cli.ExitNotFound, "nofec"},
		{[]string{"ls", "-storage", dir}, cli.ExitNotFound, "not a fecdeploy web storage"},
		{[]string{"sign"}, cli.ExitUsage, "no signing key"},
		{[]string{"link-init", "scu01", "99-nothing"}, cli.ExitNotFound, "99-nothing"},
		{[]string{"put", "-kind", "configuration", "scu01", "notes", notArchive}, cli.ExitUsage, "not a zstd, gzip or xz"},
		{[]string{"put", "-kind", "init", "scu01", "90-x", filepath.Join(dir, "missing.sh")}, cli.ExitError, "missing.sh"},
		{[]string{"add-script", "10-x", filepath.Join(dir, "missing.sh")}, cli.ExitError, "missing.sh"},
		{[]string{"ls", "-sign-key", filepath.Join(dir, "missing.key")}, cli.ExitError, "missing.key"},
		{[]string{"serve", "-storage", dir}, cli.ExitNotFound, "not a fecdeploy web storage"},
		{[]string{"switch", "scu01", "Foo", "1.0.0"}, cli.ExitNotFound, "Foo"},
	} {
		code, _, errs := fecctl(t, tc.args...)
		assert.Equal(t, tc.code, code, "fecctl %q: %s", tc.args, errs)
		assert.Contains(t, errs, tc.msg, "fecctl %q", tc.args)
	}
	assert.Equal(t, before, snapshot(), "bad input changed the storage")
}

// fecctl verify reports two versions that read as the same version (made
// by hand or by another tool: Publish refuses the second).
func TestVerifyReportsCollidingVersions(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	base := filepath.Join(t.TempDir(), "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	code, _, errs := fecctl(t, "init")
	require.Equal(t, 0, code, errs)
	for _, v := range []string{"5.1.0-rc.1", "5.1.0-RC.1"} {
		testkit.WriteTree(t, filepath.Join(base, "software", "Foo_DU", v), map[string]string{
			"Foo_DU-" + v + "-x86_64.tar.gz": "\x1f\x8b\x08 not really gzip, verify only reads the magic",
		})
	}
	code, out, errs := fecctl(t, "verify")
	assert.NotEqual(t, 0, code, "verify with colliding versions: %s%s", out, errs)
	assert.Contains(t, out+errs, "version-collision: software/Foo_DU/5.1.0-RC.1: version 5.1.0-RC.1 collides with 5.1.0-rc.1")
	assert.Contains(t, out+errs, "version-collision: software/Foo_DU/5.1.0-rc.1")
}
