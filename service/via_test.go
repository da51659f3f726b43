package service_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/service"
)

// TestReleaseVia publishes like fec-pack -service does: packed, uploaded,
// linked and recorded under the token's name.
func TestReleaseVia(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqliteDSN(t), service.Options{}, "fec01")
	src := testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/Foo_DU": "#!/bin/sh\necho hi\n", "etc/Foo_DU.xml": "<x/>"})
	req := publish.Request{Name: "Foo_DU", Version: "1.2.0", Arch: "x86_64", SourceDir: src, Prefix: "opt/fesa/Foo_DU/1.2.0", Link: []string{"fec01"}, Prune: true}

	before := snap(t, e.dir)
	_, err := publish.ReleaseVia(context.Background(), publish.Service{URL: e.url, Token: "fecd_wrong"}, req)
	require.ErrorIs(t, err, publish.ErrUnauthorized)
	assert.Equal(t, before, snap(t, e.dir))

	res, err := publish.ReleaseVia(context.Background(), publish.Service{URL: e.url, Token: e.token}, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"fec01"}, res.Linked)
	assert.Equal(t, res.Pack.SHA256, res.Published.SHA256)
	info, err := e.st.FEC(context.Background(), "fec01")
	require.NoError(t, err)
	require.Len(t, info.Entries, 1)
	assert.Equal(t, "1.2.0", info.Entries[0].Version)
	assert.Equal(t, index.KindSoftware, info.Entries[0].Kind)
	rel, err := e.db.Releases(context.Background(), "Foo_DU", 0)
	require.NoError(t, err)
	require.Len(t, rel, 1)
	assert.Equal(t, "alice", rel[0].Actor)
	assert.Equal(t, []string{"fec01"}, rel[0].FECs)

	// a different archive under the same productive version: refused (409)
	req.SourceDir = testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/Foo_DU": "changed"})
	before = snap(t, e.dir)
	_, err = publish.ReleaseVia(context.Background(), publish.Service{URL: e.url, Token: e.token}, req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "409")
	assert.Equal(t, before, snap(t, e.dir))
}
