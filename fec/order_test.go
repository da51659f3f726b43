package fec

import (
	"archive/tar"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedArchive adds a software archive that unpacks to opt/shared/f, with
// opt/shared/ of mode dirMode.
func sharedArchive(t *testing.T, st *clienttest.Storage, name string, dirMode int64, content string) {
	t.Helper()
	fileMode := int64(0o644)
	if content[:2] == "#!" {
		fileMode = 0o755
	}
	st.Archive(t, "fec01", index.KindSoftware, name, "1.0.0", index.FormatZstd, []clienttest.Entry{
		{Name: "opt/", Type: tar.TypeDir},
		{Name: "opt/shared/", Type: tar.TypeDir, Mode: dirMode},
		{Name: "opt/shared/f", Body: content, Mode: fileMode},
	})
}

// holdFirst forwards to the storage but holds back the answer for the first
// archive of the INDEX until the second one was served and then either the
// second one's file shows up under root (it was committed first) or grace
// has passed; or, with hold set, until the client gives up. With grace 0 it
// holds nothing.
type holdFirst struct {
	next          http.Handler
	first, second string // URL paths
	root          string
	grace         time.Duration
	hold          bool

	mu         sync.Mutex
	secondDone chan struct{}
}

func (h *holdFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case h.second:
		h.next.ServeHTTP(w, r)
		h.mu.Lock()
		select {
		case <-h.secondDone:
		default:
			close(h.secondDone)
		}
		h.mu.Unlock()
		return
	case h.first:
		if h.hold {
			<-r.Context().Done()
			return
		}
		if h.grace == 0 {
			break // Parallel 1: the second waits for the first's slot
		}
		<-h.secondDone
		until := time.Now().Add(h.grace)
		for time.Now().Before(until) {
			if _, err := os.Stat(filepath.Join(h.root, "opt/shared/f")); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	h.next.ServeHTTP(w, r)
}

// Archives are committed in INDEX order whatever order their downloads end
// in: two archives carrying the same directory and file give the same tree
// on every boot. The first archive of the INDEX is held back until the
// second has been downloaded (and, with commits in completion order,
// committed), so the second finishes first.
func TestBootCommitsInIndexOrder(t *testing.T) {
	t.Parallel()
	s := clienttest.NewStorage(t)
	sharedArchive(t, s, "Shared_A", 0o750, "one\n")
	sharedArchive(t, s, "Shared_B", 0o705, "#!/bin/sh\necho two\n")
	archiveOf(t, s, "fec01", index.KindSoftware, "Other", "1.0.0", "opt/other", map[string]string{"x": "x\n"}, index.FormatGzip)
	ix, err := index.ParseBytes(s.WriteIndex(t, "fec01", nil))
	require.NoError(t, err)
	var names []string
	paths := map[string]string{}
	modes := map[string]fs.FileMode{"Shared_A": 0o750, "Shared_B": 0o705}
	contents := map[string]string{"Shared_A": "one\n", "Shared_B": "#!/bin/sh\necho two\n"}
	for _, e := range ix.Entries { // in the order the client reads them
		if e.Name == "Shared_A" || e.Name == "Shared_B" {
			names = append(names, e.Name)
			paths[e.Name] = "/" + e.Path
		}
	}
	require.Len(t, names, 2)
	first, second := names[0], names[1]
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	target, _ := url.Parse(ng.URL)

	for _, parallel := range []int{4, 2, 1} {
		t.Run(fmt.Sprintf("parallel=%d", parallel), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, "", "fec01")
			cfg.Parallel = parallel
			h := &holdFirst{next: httputil.NewSingleHostReverseProxy(target), first: paths[first], second: paths[second],
				root: cfg.Root, grace: 500 * time.Millisecond, secondDone: make(chan struct{})}
			if parallel == 1 {
				h.grace = 0
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			cfg.BaseURL = srv.URL
			start := time.Now()
			st, err := Boot(context.Background(), cfg)
			require.NoError(t, err)
			t.Logf("boot took %v", time.Since(start))
			assertCounts(t, st, 3, 0, 0)
			// The INDEX-later archive's file replaces the earlier one's; the
			// directory keeps the mode of the archive that created it (the
			// earlier one): Commit keeps existing directories, as the shell
			// client does.
			f := filepath.Join(cfg.Root, "opt/shared/f")
			assert.Equal(t, contents[second], testkit.ReadFile(t, f), "opt/shared/f is %s's (INDEX order %s, %s)", second, first, second)
			fi, err := os.Stat(f)
			require.NoError(t, err)
			want := fs.FileMode(0o644)
			if contents[second][:2] == "#!" {
				want = 0o755
			}
			assert.Equal(t, want, fi.Mode().Perm(), "opt/shared/f has the mode of %s", second)
			di, err := os.Stat(filepath.Join(cfg.Root, "opt/shared"))
			require.NoError(t, err)
			assert.Equal(t, modes[first], di.Mode().Perm(), "opt/shared has the mode of %s, which created it", first)
			for i, e := range st.Entries {
				assert.Equal(t, ActionInstalled, e.Action, "entry %d: %+v", i, e)
				assert.GreaterOrEqual(t, e.DurationMS, int64(0), "entry %d", i)
			}
			assertNoStaging(t, cfg.Root)
		})
	}

	// The first archive never comes: at the deadline the second one, staged
	// and waiting for its turn, is discarded, not committed and not left in
	// its staging directory.
	t.Run("deadline while staged", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, "", "fec01")
		h := &holdFirst{next: httputil.NewSingleHostReverseProxy(target), first: paths[first], second: paths[second],
			root: cfg.Root, hold: true, secondDone: make(chan struct{})}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		cfg.BaseURL = srv.URL
		cfg.Deadline, cfg.IdleTimeout = 1500*time.Millisecond, 5*time.Second
		st, err := Boot(context.Background(), cfg)
		require.ErrorIs(t, err, ErrInstall)
		require.ErrorIs(t, err, errDeadline)
		select {
		case <-h.secondDone:
		default:
			t.Fatal("the second archive was not downloaded")
		}
		// Archives before the held one are installed, it and every one
		// after it fail.
		held := false
		for _, e := range st.Entries {
			held = held || e.Name == first
			want := map[bool]string{false: ActionInstalled, true: ActionFailed}[held]
			assert.Equal(t, want, e.Action, "%s (%s)", e.Name, e.Error)
		}
		assert.NoDirExists(t, filepath.Join(cfg.Root, "opt/shared"), "something of the shared archives was committed: %v", testkit.Paths(t, filepath.Join(cfg.Root, "opt")))
		assertNoStaging(t, cfg.Root)
	})
}
