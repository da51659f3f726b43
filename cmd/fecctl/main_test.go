package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
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

// workspace points fecctl at a storage base dir/ws (not created: "init"
// does), without a signing key, and returns mustOK, which runs fecctl and
// fails the test unless it exits 0.
func workspace(t *testing.T) (dir, base string, mustOK func(args ...string) string) {
	t.Helper()
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir = t.TempDir()
	base = filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	return dir, base, func(args ...string) string {
		t.Helper()
		code, out, errs := fecctl(t, args...)
		require.Equal(t, 0, code, "fecctl %v: %s", args, errs)
		return out
	}
}

func TestWorkflow(t *testing.T) {
	dir, base, mustOK := workspace(t)
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
	snapshot := func() map[string]string { return storageSnapshot(t, base) }
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
		{[]string{"sign"}, cli.ExitRefused, "signing key required"},
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

// The examples of add-script and link-init, run in order on a fresh storage, work;
// link-init without the shared script names the command that adds it.
func TestLinkInitExamplesWork(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	t.Setenv("FECDEPLOY_STORAGE", filepath.Join(dir, "ws"))
	t.Chdir(dir)
	testkit.WriteTree(t, dir, map[string]string{"network.sh": "#!/bin/sh\necho net\n"})
	for _, args := range [][]string{{"init"}, {"add-fec", "-arch", "x86_64", "scu01"}} {
		code, _, errs := fecctl(t, args...)
		require.Equal(t, 0, code, "%v: %s", args, errs)
	}
	code, _, errs := fecctl(t, "link-init", "scu01", "10-network")
	assert.Equal(t, cli.ExitNotFound, code, errs)
	assert.Contains(t, errs, "fecctl add-script 10-network", "the error names the command that adds the script")
	assert.NotContains(t, errs, "AddGlobalScript")

	_, _, help := fecctl(t, "link-init", "-help")
	_, ex, ok := strings.Cut(help, "Examples:\n")
	require.True(t, ok, help)
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(ex), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		f := strings.Fields(cmd)
		require.Equal(t, "fecctl", f[0], line)
		code, _, errs := fecctl(t, f[1:]...)
		require.Equal(t, 0, code, "example %q: %s", line, errs)
		n++
	}
	assert.GreaterOrEqual(t, n, 2)
	target, err := os.Readlink(filepath.Join(dir, "ws/fecs/scu01/init/10-network"))
	require.NoError(t, err)
	assert.Equal(t, "../../global/10-network", target)
}

// put -kind data is refused for a FEC that does not persist data (nothing
// written, no persistent-data/ created); for one that does, unlinking its last
// snapshot leaves the folder (the FEC stays persisted) and everything else.
func TestPutDataNeedsPersistentFEC(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	snap := filepath.Join(dir, "settings.tar.gz")
	require.NoError(t, os.WriteFile(snap, clienttest.TarGz(t, clienttest.Tree("opt/data", map[string]string{"a": "1"})), 0o644))
	for _, args := range [][]string{{"init"}, {"add-fec", "-arch", "x86_64", "scu01"}, {"add-fec", "-arch", "x86_64", "-persistent", "scu02"}} {
		code, _, errs := fecctl(t, args...)
		require.Equal(t, 0, code, "%v: %s", args, errs)
	}
	before := storageSnapshot(t, base)
	code, _, errs := fecctl(t, "put", "-kind", "data", "scu01", "settings", snap)
	assert.Equal(t, cli.ExitUsage, code, errs)
	assert.Contains(t, errs, "does not persist data")
	assert.Contains(t, errs, "fecs/scu01/persistent-data")
	assert.Equal(t, before, storageSnapshot(t, base), "a refused put changed the storage")

	code, _, errs = fecctl(t, "put", "-kind", "data", "scu02", "settings", snap)
	require.Equal(t, 0, code, errs)
	assert.FileExists(t, filepath.Join(base, "fecs/scu02/persistent-data/settings.tar.gz"))
	code, _, errs = fecctl(t, "unlink", "-kind", "data", "scu02", "settings")
	require.Equal(t, 0, code, errs)
	assert.DirExists(t, filepath.Join(base, "fecs/scu02/persistent-data"), "unlink of the last snapshot removed the opt-in folder")
	assert.NoFileExists(t, filepath.Join(base, "fecs/scu02/persistent-data/settings.tar.gz"))
	for _, d := range []string{"init", "software", "configuration"} {
		assert.DirExists(t, filepath.Join(base, "fecs/scu02", d))
	}
	_, help, helpErr := fecctl(t, "put", "-help")
	assert.Contains(t, help+helpErr, "-kind data", "put -help documents -kind data")
}

// holdLock holds the storage lock through flock(1), as a script would.
func holdLock(t *testing.T, base string) {
	t.Helper()
	flock := testenv.RequireTool(t, "flock")
	cmd := exec.Command(flock, "--exclusive", filepath.Join(base, storage.LockName), "sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		return strings.Contains(storage.DescribeLockHolder(filepath.Join(base, storage.LockName)), "holds the flock")
	}, 5*time.Second, 10*time.Millisecond)
}

// fecctl waits for the storage lock at most -wait, then exits 5 naming the holder.
func TestWaitLimit(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	base := filepath.Join(t.TempDir(), "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	code, _, errs := fecctl(t, "init")
	require.Equal(t, 0, code, errs)
	holdLock(t, base)
	start := time.Now()
	code, _, errs = fecctl(t, "add-fec", "-wait", "300ms", "-arch", "x86_64", "scu01")
	assert.Equal(t, cli.ExitBusy, code, errs)
	assert.Less(t, time.Since(start), 5*time.Second, "-wait ignored")
	assert.Contains(t, errs, "(flock) holds the flock")
	assert.NoDirExists(t, filepath.Join(base, "fecs/scu01"))
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

// fecctl verify reports a version folder a killed publish left without its
// archive; verify -clean removes it (once past the temporary files' grace)
// and nothing else.
func TestVerifyCleanRemovesArchivelessVersion(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	base := filepath.Join(t.TempDir(), "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	code, _, errs := fecctl(t, "init")
	require.Equal(t, 0, code, errs)
	archive := filepath.Join(base, "software", "Foo_DU", "1.0.0", "Foo_DU-1.0.0-x86_64.tar.gz")
	testkit.WriteTree(t, filepath.Dir(archive), map[string]string{
		// a real archive: verify checks its entries with the clients' rules
		filepath.Base(archive): string(clienttest.TarGz(t, clienttest.Tree("opt/foo", map[string]string{"f": "x"}))),
	})
	code, _, errs = fecctl(t, "verify", "-clean") // writes the sidecar
	require.Equal(t, 0, code, errs)
	killed := filepath.Join(base, "software", "Foo_DU", "1.1.0")
	require.NoError(t, os.Mkdir(killed, 0o755))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(killed, old, old))

	code, out, errs := fecctl(t, "verify")
	assert.Equal(t, 6, code, "verify with an archive-less version folder: %s%s", out, errs)
	assert.Contains(t, out, "empty-version: software/Foo_DU/1.1.0: version folder without an archive")
	code, out, errs = fecctl(t, "verify", "-clean")
	assert.Equal(t, 0, code, "%s%s", out, errs)
	assert.Contains(t, errs, "cleaned software/Foo_DU/1.1.0")
	assert.NoDirExists(t, killed)
	assert.FileExists(t, archive)
}

// storageSnapshot describes the storage at base for "nothing changed"
// checks, without the lock file: a refused command may take the lock, and
// the file's content names its last holder.
func storageSnapshot(t *testing.T, base string) map[string]string {
	t.Helper()
	return testkit.Snapshot(t, base, testkit.SnapshotOptions{Skip: func(rel string) bool { return strings.HasPrefix(rel, ".lock") }})
}
