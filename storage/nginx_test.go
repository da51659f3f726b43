package storage

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNginxServesStorage: the storage as a FEC sees it through a plain
// nginx: INDEX and INDEX.sig downloadable, symlinks followed, every archive
// the INDEX names byte-identical to what was published, sha256 and size as
// the INDEX says.
func TestNginxServesStorage(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s.SetSigningKey(priv)
	mustAddFEC(t, s, "fec01", "x86_64")
	published := map[string][]byte{}
	add := func(kind index.Kind, name, version, arch string, body []byte) {
		p := mustPublish(t, s, kind, name, version, arch, body)
		published[p.Path] = body
	}
	add(index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", blob(index.FormatZstd, 300<<10, 1))
	add(index.KindSoftware, "Bar_DU", "dev", "x86_64", blob(index.FormatGzip, 1000, 2))
	add(index.KindConfiguration, "Foo_DU-instance", "1.2.0", "", blob(index.FormatXz, 2000, 3))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.2.0"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar_DU", "dev"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindConfiguration, "Foo_DU-instance", "1.2.0"))
	script := []byte("#!/bin/sh\necho network\n")
	require.NoError(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader(script)))
	require.NoError(t, s.LinkInit(ctx, "fec01", "10-network"))
	published["fecs/global/10-network"] = script

	n := testenv.StartNginx(t, s.Base(), testenv.NginxOptions{})
	code, data := n.Get(t, "fecs/fec01/INDEX")
	require.False(t, code != 200, "GET INDEX: %d", code)
	code, sig := n.Get(t, "fecs/fec01/INDEX.sig")
	require.False(t, code != 200, "GET INDEX.sig: %d", code)
	require.NoError(t, index.VerifySignature(data, sig, []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}), "signature over the served INDEX")
	ix, err := index.ParseBytes(data)
	require.NoError(t, err)
	require.Len(t, ix.Entries, 4)
	for _, e := range ix.Entries {
		code, body := n.Get(t, e.Path)
		if code != 200 {
			t.Errorf("GET %s: %d", e.Path, code)
			continue
		}
		assert.True(t, bytes.Equal(body, published[e.Path]), fmt.Sprint(e.Path, " is not what was published"))
		assert.Equal(t, e.SHA256, sum(body), e.Path)
		assert.Equal(t, e.Size, int64(len(body)), e.Path)
	}
	// The FEC folder's symlinks are followed, too.
	code, body := n.Get(t, "fecs/fec01/software/Foo_DU")
	assert.Equal(t, 200, code)
	assert.True(t, bytes.Equal(body, published["software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst"]), "symlink not followed")
	code, _ = n.Get(t, "fecs/fec99/INDEX")
	assert.Equal(t, 404, code, "an unknown FEC")
}
