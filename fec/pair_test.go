package fec

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/require"
)

// A FEC whose INDEX is rewritten eight times a second (INDEX renamed into
// place, INDEX.sig 100 ms later, as a slow writer would) still boots, every
// time: the pair is fetched again until it matches.
func TestBootIndexRewrittenSeveralTimesASecond(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	key := clienttest.NewKey(t)
	version(t, st, "fec01", "Foo", "1.0.0", map[string]string{"bin/foo": "x"})
	st.WriteIndex(t, "fec01", key.Private)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	put := func(rel string, data []byte) {
		p := filepath.Join(st.Dir, rel)
		require.NoError(t, os.WriteFile(p+".tmp", data, 0o644))
		require.NoError(t, os.Rename(p+".tmp", p))
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for gen := 0; ctx.Err() == nil; gen++ {
			ix := st.Index("fec01")
			ix.Attrs = map[string]string{"generation": strconv.Itoa(gen)}
			data, err := ix.Marshal()
			if err != nil {
				t.Error(err)
				return
			}
			put(index.IndexURLPath("fec01"), data)
			time.Sleep(100 * time.Millisecond)
			put(index.SigURLPath("fec01"), index.Sign(key.Private, data))
			time.Sleep(25 * time.Millisecond)
		}
	}()
	defer func() { stop(); wg.Wait() }()
	for i := 0; i < 8; i++ {
		cfg := testConfig(t, ng.URL, "fec01")
		cfg.PublicKeys = []ed25519.PublicKey{key.Public}
		// A stuck pair is refused after 2x this (10 s at most): room for a
		// writer slowed down by a busy machine.
		cfg.RetryWaitMax = 5 * time.Second
		_, err := Boot(context.Background(), cfg)
		require.NoError(t, err, "boot %d during rewrites", i)
	}
}
