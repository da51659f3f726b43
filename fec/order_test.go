package fec

import (
	"context"
	"errors"
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

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/publish"
)

// addSharedArchive publishes a software archive that unpacks to
// opt/shared/f, with opt/shared/ of mode dirMode.
func (s *testStorage) addSharedArchive(name string, dirMode fs.FileMode, content string) {
	s.t.Helper()
	src := s.t.TempDir()
	dir := filepath.Join(src, "shared")
	fileMode := fs.FileMode(0o644)
	if content[:2] == "#!" {
		fileMode = 0o755
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), fileMode); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		s.t.Fatal(err)
	}
	_, err := publish.Release(context.Background(), s.st, publish.Request{
		Kind: index.KindSoftware, Name: name, Version: "1.0.0", Arch: "x86_64", SourceDir: src, Prefix: "opt",
		Format: index.FormatZstd, ModTime: time.Unix(1700000000, 0), Link: []string{s.FEC},
	})
	if err != nil {
		s.t.Fatalf("publishing %s: %v", name, err)
	}
	s.publish()
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
	s := newTestStorage(t, "fec01")
	s.addSharedArchive("Shared_A", 0o750, "one\n")
	s.addSharedArchive("Shared_B", 0o705, "#!/bin/sh\necho two\n")
	s.addArchive(index.KindSoftware, "Other", "1.0.0", false, "opt/other", map[string]string{"x": "x\n"}, index.FormatGzip)
	var names []string
	paths := map[string]string{}
	modes := map[string]fs.FileMode{"Shared_A": 0o750, "Shared_B": 0o705}
	contents := map[string]string{"Shared_A": "one\n", "Shared_B": "#!/bin/sh\necho two\n"}
	for _, e := range s.ix.Entries {
		if e.Name == "Shared_A" || e.Name == "Shared_B" {
			names = append(names, e.Name)
			paths[e.Name] = "/" + e.Path
		}
	}
	if len(names) != 2 {
		t.Fatalf("INDEX entries: %+v", s.ix.Entries)
	}
	first, second := names[0], names[1]
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	target, _ := url.Parse(ng.URL)

	for _, parallel := range []int{4, 2, 1} {
		t.Run(fmt.Sprintf("parallel=%d", parallel), func(t *testing.T) {
			cfg := testConfig(t, "", "fec01")
			cfg.Parallel = parallel
			h := &holdFirst{next: httputil.NewSingleHostReverseProxy(target), first: paths[first], second: paths[second],
				root: cfg.Root, grace: 500 * time.Millisecond, secondDone: make(chan struct{})}
			if parallel == 1 {
				h.grace = 0
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			cfg.BaseURL = srv.URL
			start := time.Now()
			st, err := Boot(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Boot: %v", err)
			}
			t.Logf("boot took %v", time.Since(start))
			if in, _, fa := st.Counts(); in != 3 || fa != 0 {
				t.Fatalf("counts: %d installed, %d failed; want 3 installed", in, fa)
			}
			// The INDEX-later archive's file replaces the earlier one's; the
			// directory keeps the mode of the archive that created it (the
			// earlier one): Commit keeps existing directories, as the shell
			// client does.
			f := filepath.Join(cfg.Root, "opt/shared/f")
			if got := readFile(t, f); got != contents[second] {
				t.Errorf("opt/shared/f = %q, want %q of %s (INDEX order %s, %s)", got, contents[second], second, first, second)
			}
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			want := fs.FileMode(0o644)
			if contents[second][:2] == "#!" {
				want = 0o755
			}
			if fi.Mode().Perm() != want {
				t.Errorf("opt/shared/f has mode %o, want %o of %s", fi.Mode().Perm(), want, second)
			}
			di, err := os.Stat(filepath.Join(cfg.Root, "opt/shared"))
			if err != nil {
				t.Fatal(err)
			}
			if di.Mode().Perm() != modes[first] {
				t.Errorf("opt/shared has mode %o, want %o of %s, which created it", di.Mode().Perm(), modes[first], first)
			}
			for i, e := range st.Entries {
				if e.Action != ActionInstalled || e.DurationMS < 0 {
					t.Errorf("entry %d: %+v", i, e)
				}
			}
			assertNoStaging(t, cfg.Root)
		})
	}

	// The first archive never comes: at the deadline the second one, staged
	// and waiting for its turn, is discarded, not committed and not left in
	// its staging directory.
	t.Run("deadline while staged", func(t *testing.T) {
		cfg := testConfig(t, "", "fec01")
		h := &holdFirst{next: httputil.NewSingleHostReverseProxy(target), first: paths[first], second: paths[second],
			root: cfg.Root, hold: true, secondDone: make(chan struct{})}
		srv := httptest.NewServer(h)
		defer srv.Close()
		cfg.BaseURL = srv.URL
		cfg.Deadline, cfg.IdleTimeout = 1500*time.Millisecond, 5*time.Second
		st, err := Boot(context.Background(), cfg)
		if !errors.Is(err, ErrInstall) || !errors.Is(err, errDeadline) {
			t.Fatalf("err = %v, want an install failure at the deadline", err)
		}
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
			if want := map[bool]string{false: ActionInstalled, true: ActionFailed}[held]; e.Action != want {
				t.Errorf("%s: %s (%s), want %s", e.Name, e.Action, e.Error, want)
			}
		}
		if _, err := os.Stat(filepath.Join(cfg.Root, "opt/shared")); !os.IsNotExist(err) {
			t.Fatalf("something of the shared archives was committed: %v", tree(t, filepath.Join(cfg.Root, "opt")))
		}
		assertNoStaging(t, cfg.Root)
	})
}
