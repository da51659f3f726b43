package storage

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
)

// TestNginxServesStorage: the storage as a FEC sees it through a plain
// nginx: INDEX and INDEX.sig downloadable, symlinks followed, every archive
// the INDEX names byte-identical to what was published, sha256 and size as
// the INDEX says.
func TestNginxServesStorage(t *testing.T) {
	s := newTestStorage(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
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
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.2.0"))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar_DU", "dev"))
	must(t, s.Link(ctx, "fec01", index.KindConfiguration, "Foo_DU-instance", "1.2.0"))
	script := []byte("#!/bin/sh\necho network\n")
	must(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader(script)))
	must(t, s.LinkInit(ctx, "fec01", "10-network"))
	published["fecs/global/10-network"] = script

	n := testenv.StartNginx(t, s.Base(), testenv.NginxOptions{})
	code, data := n.Get(t, "fecs/fec01/INDEX")
	if code != 200 {
		t.Fatalf("GET INDEX: %d", code)
	}
	code, sig := n.Get(t, "fecs/fec01/INDEX.sig")
	if code != 200 {
		t.Fatalf("GET INDEX.sig: %d", code)
	}
	must(t, index.VerifySignature(data, sig, []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}), "signature over the served INDEX")
	ix, err := index.ParseBytes(data)
	must(t, err)
	eq(t, len(ix.Entries), 4)
	for _, e := range ix.Entries {
		code, body := n.Get(t, e.Path)
		if code != 200 {
			t.Errorf("GET %s: %d", e.Path, code)
			continue
		}
		truth(t, bytes.Equal(body, published[e.Path]), e.Path, " is not what was published")
		eq(t, sum(body), e.SHA256, e.Path)
		eq(t, int64(len(body)), e.Size, e.Path)
	}
	// The FEC folder's symlinks are followed, too.
	code, body := n.Get(t, "fecs/fec01/software/Foo_DU")
	eq(t, code, 200)
	truth(t, bytes.Equal(body, published["software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst"]), "symlink not followed")
	code, _ = n.Get(t, "fecs/fec99/INDEX")
	eq(t, code, 404, "an unknown FEC")
}
