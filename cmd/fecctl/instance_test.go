package main

import (
	"context"
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

// FESA instance files follow their binary: switch, rollback and switch
// -all-fecs move the FEC's <DU>-instance link with the software, refuse
// (naming both) when the target version has no instance configuration,
// unless -keep-instance; verify and show report every mismatch.
func TestInstanceFollowsSoftware(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	ctx := context.Background()
	st, err := storage.Init(base)
	require.NoError(t, err)
	for _, f := range []string{"scu01", "scu02", "scu03"} {
		require.NoError(t, st.AddFEC(ctx, f, storage.FECConfig{Arch: "x86_64"}))
	}
	pub := func(kind index.Kind, name, ver, arch string) {
		body := clienttest.TarGz(t, clienttest.Tree("opt/fesa/"+name+"/"+ver, map[string]string{"f": name + ver}))
		_, err := st.Publish(ctx, storage.PublishRequest{Kind: kind, Name: name, Version: version.MustParse(ver), Arch: arch, Body: strings.NewReader(string(body))})
		require.NoError(t, err)
	}
	for _, v := range []string{"1.0.0", "2.0.0", "2.1.0"} {
		pub(index.KindSoftware, "BeamPos_DU", v, "x86_64")
	}
	for _, v := range []string{"2.0.0", "2.1.0"} { // no instance files for 1.0.0
		pub(index.KindConfiguration, "BeamPos_DU-instance", v, "")
	}
	require.NoError(t, st.Link(ctx, "scu01", index.KindSoftware, "BeamPos_DU", "2.1.0"))
	require.NoError(t, st.Link(ctx, "scu01", index.KindConfiguration, "BeamPos_DU-instance", "2.1.0"))
	require.NoError(t, st.Link(ctx, "scu02", index.KindSoftware, "BeamPos_DU", "2.1.0")) // no instance
	run := func(args ...string) (int, string) {
		t.Helper()
		code, out, errs := fecctl(t, args...)
		return code, out + errs
	}
	instanceAt := func(fec string) string {
		t.Helper()
		ix, err := index.ParseBytes([]byte(testkit.ReadFile(t, filepath.Join(base, "fecs", fec, "INDEX"))))
		require.NoError(t, err)
		e, ok := ix.Lookup(index.KindConfiguration, "BeamPos_DU-instance")
		if !ok {
			return ""
		}
		return e.Version
	}
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == storage.LockName }}

	code, out := run("switch", "scu01", "BeamPos_DU", "2.0.0")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "BeamPos_DU-instance 2.1.0 -> 2.0.0")
	assert.Equal(t, "2.0.0", instanceAt("scu01"), "the instance followed the binary")
	code, out = run("verify")
	assert.Equal(t, 0, code, out)

	// No instance for 1.0.0: refused, naming both, nothing changed.
	before := testkit.Snapshot(t, base, noLock)
	code, out = run("switch", "scu01", "BeamPos_DU", "1.0.0")
	assert.Equal(t, cli.ExitNotFound, code, out)
	for _, want := range []string{"BeamPos_DU 1.0.0", "BeamPos_DU-instance", "-keep-instance"} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, before, testkit.Snapshot(t, base, noLock), "a refused switch changed the storage")
	code, out = run("switch", "-all-fecs", "BeamPos_DU", "1.0.0")
	assert.Equal(t, cli.ExitNotFound, code, out)
	assert.Contains(t, out, "scu01")
	assert.Equal(t, before, testkit.Snapshot(t, base, noLock), "a refused switch -all-fecs changed the storage")

	// Told to keep it: switched, and the mismatch is reported by verify and show.
	code, out = run("switch", "-keep-instance", "scu01", "BeamPos_DU", "1.0.0")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "2.0.0", instanceAt("scu01"))
	code, out = run("verify")
	assert.Equal(t, cli.ExitProblems, code, out)
	assert.Contains(t, out, "instance-mismatch")
	assert.Contains(t, out, "configuration BeamPos_DU-instance is at 2.0.0 but software BeamPos_DU at 1.0.0")
	code, out = run("show", "scu01")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "BeamPos_DU-instance is at 2.0.0 but software BeamPos_DU at 1.0.0")

	// Back to 2.1.0: both move. Rollback goes to 2.0.0, with its instance.
	code, out = run("switch", "scu01", "BeamPos_DU", "2.1.0")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "2.1.0", instanceAt("scu01"))
	code, out = run("rollback", "scu01", "BeamPos_DU")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "2.0.0", instanceAt("scu01"))
	assert.Contains(t, out, "BeamPos_DU-instance 2.1.0 -> 2.0.0")

	// The fleet: scu01 (with instance) and scu02 (without) to 2.1.0.
	code, out = run("switch", "-all-fecs", "BeamPos_DU", "2.1.0")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "2.1.0", instanceAt("scu01"))
	assert.Equal(t, "", instanceAt("scu02"), "a FEC without instance gets none")
	code, out = run("verify")
	assert.Equal(t, 0, code, out)

	// An instance configuration linked to a FEC without that software.
	require.NoError(t, st.Link(ctx, "scu03", index.KindConfiguration, "BeamPos_DU-instance", "2.1.0"))
	code, out = run("verify")
	assert.Equal(t, cli.ExitProblems, code, out)
	assert.Contains(t, out, "configuration BeamPos_DU-instance 2.1.0 is linked without software BeamPos_DU")
	code, out = run("show", "scu03")
	assert.Contains(t, out, "linked without software BeamPos_DU", "show: %s", out)
}
