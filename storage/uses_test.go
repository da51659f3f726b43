package storage

import (
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUses(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	for _, f := range []string{"fec01", "fec02", "fec03"} {
		mustAddFEC(t, s, f, "x86_64")
	}
	publishOld(t, s, "Foo_DU", "1.0.0", "1.10.0", "1.2.0")
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.2.0"))
	require.NoError(t, s.Link(ctx, "fec02", index.KindSoftware, "Foo_DU", "1.10.0"))
	require.NoError(t, s.Link(ctx, "fec03", index.KindSoftware, "Foo_DU", "1.2.0"))
	uses, err := s.Uses(ctx, index.KindSoftware, "Foo_DU", "")
	require.NoError(t, err)
	var got []string
	for _, u := range uses {
		got = append(got, u.FEC+"@"+u.Version)
	}
	assert.Equal(t, []string{"fec02@1.10.0", "fec01@1.2.0", "fec03@1.2.0"}, got, "newest version first, by semver")
	uses, err = s.Uses(ctx, index.KindSoftware, "Foo_DU", "1.2.0")
	require.NoError(t, err)
	require.Len(t, uses, 2)
	uses, err = s.Uses(ctx, index.KindSoftware, "Foo_DU", "1.0.0")
	require.NoError(t, err)
	require.Len(t, uses, 0)
	_, err = s.Uses(ctx, index.KindSoftware, "Foo DU", "")
	require.ErrorIs(t, err, index.ErrBadName)
}
