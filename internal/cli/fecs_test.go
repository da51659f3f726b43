package cli

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/storage"
)

func TestFECViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := storage.Init(filepath.Join(t.TempDir(), "ws"))
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(ctx, "scu02", storage.FECConfig{Arch: "x86_64"}))
	require.NoError(t, st.AddFEC(ctx, "ppc01", storage.FECConfig{Arch: "ppc"}))

	views, err := FECViews(ctx, st)
	require.NoError(t, err)
	require.Len(t, views, 2)
	assert.Equal(t, FECView{Name: "ppc01", Arch: "ppc", Decoders: []string{"gzip", "xz"}}, views[0])
	assert.Equal(t, "scu02", views[1].Name, "in name order")
	assert.Empty(t, views[1].Entries)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = FECViews(cancelled, st)
	require.ErrorIs(t, err, context.Canceled)
}
