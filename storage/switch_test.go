package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSwitch(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "fec02", "x86_64")
	mustAddFEC(t, s, "fec03", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0")
	mustPublish(t, s, index.KindSoftware, "Bar", "1.0.0", "noarch", blob(index.FormatGzip, 10, 1))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec02", index.KindSoftware, "Foo_DU", "1.0.0"))
	require.NoError(t, s.Link(ctx, "ppc01", index.KindSoftware, "Bar", "1.0.0"))

	res, err := s.Switch(ctx, "fec01", "Foo_DU", "1.2.0")
	require.NoError(t, err)
	assert.Equal(t, "1.0.0>1.2.0", res.From+">"+res.To)
	assert.True(t, res.Changed)
	assert.Equal(t, "software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst", readIndex(t, s, "fec01").Entries[0].Path)
	raw, err := os.Readlink(filepath.Join(s.Base(), "fecs/fec01/software/Foo_DU"))
	require.NoError(t, err)
	assert.Equal(t, "../../../software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst", raw, "relative link")

	before := snapshot(t, s.Base())
	res, err = s.Switch(ctx, "fec01", "Foo_DU", "1.2.0")
	require.NoError(t, err)
	assert.False(t, res.Changed, "switching to the same version changes nothing")
	assert.Equal(t, snapshot(t, s.Base()), before)

	for _, tc := range []struct {
		what, fec, sw, ver string
		want               error
		msg                string
	}{
		{"unknown FEC", "fec99", "Foo_DU", "1.1.0", ErrUnknownFEC, "fec99"},
		{"not linked", "fec03", "Foo_DU", "1.1.0", ErrNotFound, "fec03 does not link software Foo_DU"},
		{"v prefix", "fec01", "Foo_DU", "v1.1.0", version.ErrInvalid, "drop the leading 'v' → 1.1.0"},
		{"missing version", "fec01", "Foo_DU", "1.9.0", ErrNotFound, "1.0.0, 1.1.0, 1.2.0"},
		{"bad FEC name", "../fec01", "Foo_DU", "1.1.0", index.ErrBadName, "starts with"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			_, err := s.Switch(ctx, tc.fec, tc.sw, tc.ver)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Equal(t, snapshot(t, s.Base()), before, "nothing may change")
		})
	}

	// Fleet-wide: every FEC that links Foo_DU, one reindex; fec03 untouched.
	all, err := s.SwitchAll(ctx, "Foo_DU", "1.1.0")
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, "fec01:1.2.0>1.1.0 fec02:1.0.0>1.1.0", all[0].FEC+":"+all[0].From+">"+all[0].To+" "+all[1].FEC+":"+all[1].From+">"+all[1].To)
	for _, f := range []string{"fec01", "fec02"} {
		assert.Equal(t, "1.1.0", readIndex(t, s, f).Entries[0].Version, f)
	}
	require.Len(t, readIndex(t, s, "fec03").Entries, 0)

	// One FEC that cannot take the version: nothing changes.
	require.NoError(t, s.Link(ctx, "ppc01", index.KindSoftware, "Bar", "1.0.0"))
	mustPublish(t, s, index.KindSoftware, "Bar", "2.0.0", "x86_64", blob(index.FormatGzip, 10, 2))
	require.NoError(t, s.Link(ctx, "fec03", index.KindSoftware, "Bar", "1.0.0"))
	before = snapshot(t, s.Base())
	_, err = s.SwitchAll(ctx, "Bar", "2.0.0")
	require.ErrorIs(t, err, ErrArchMismatch)
	assert.Contains(t, err.Error(), "nothing changed")
	assert.Equal(t, snapshot(t, s.Base()), before)
	_, err = s.SwitchAll(ctx, "Nope", "1.0.0")
	require.ErrorIs(t, err, ErrNotFound)

	// The links and switches are in the link log, for the grace period.
	log, err := s.readLinkLog()
	require.NoError(t, err)
	var lines []string
	for _, c := range log {
		lines = append(lines, c.fec+":"+c.software+":"+c.fromVersion+">"+c.toVer)
	}
	assert.Equal(t, []string{"fec01:Foo_DU:>1.0.0", "fec02:Foo_DU:>1.0.0", "ppc01:Bar:>1.0.0",
		"fec01:Foo_DU:1.0.0>1.2.0", "fec01:Foo_DU:1.2.0>1.1.0", "fec02:Foo_DU:1.0.0>1.1.0", "fec03:Bar:>1.0.0"}, lines)
}

func TestRollback(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc", "gzip")
	publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0", "1.3.0-rc.1", "dev")
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.0.0", "ppc", blob(index.FormatGzip, 10, 1))
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.2.0", "ppc", blob(index.FormatGzip, 10, 2))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "dev"))
	require.NoError(t, s.Link(ctx, "ppc01", index.KindSoftware, "Foo_DU", "1.2.0"))

	steps := []string{"1.2.0", "1.1.0", "1.0.0"} // from dev: the newest productive, then older, skipping prereleases
	for _, want := range steps {
		res, err := s.Rollback(ctx, "fec01", "Foo_DU")
		require.NoError(t, err, fmt.Sprint("rollback to ", want))
		assert.Equal(t, want, res.To)
		assert.Equal(t, want, readIndex(t, s, "fec01").Entries[0].Version)
	}
	before := snapshot(t, s.Base())
	_, err := s.Rollback(ctx, "fec01", "Foo_DU")
	require.ErrorIs(t, err, ErrNoRollback)
	assert.Contains(t, err.Error(), "runs Foo_DU 1.0.0")
	assert.Equal(t, snapshot(t, s.Base()), before)

	// ppc01 skips 1.1.0, which has no ppc build.
	res, err := s.Rollback(ctx, "ppc01", "Foo_DU")
	require.NoError(t, err)
	assert.Equal(t, "1.2.0>1.0.0", res.From+">"+res.To)

	_, err = s.Rollback(ctx, "fec01", "Bar")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Rollback(ctx, "fec77", "Foo_DU")
	require.ErrorIs(t, err, ErrUnknownFEC)
}
