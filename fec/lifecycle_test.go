package fec

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func version(t *testing.T, st *clienttest.Storage, fecName, name, v string, files map[string]string) {
	archiveOf(t, st, fecName, index.KindSoftware, name, v, "opt/fesa/"+name+"/"+v, files, index.FormatGzip)
}

// A new build of dev, or a forced republish of a version, replaces the
// version directory as a whole: files the new build lacks are gone.
func TestBootReplacesMutableVersion(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	version(t, st, "fec01", "Bar", "dev", map[string]string{"bin/bar": "build 1", "lib/old.so": "only in build 1"})
	version(t, st, "fec01", "Foo", "1.0.0", map[string]string{"bin/foo": "first", "etc/dropped": "x"})
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	_, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	// Something else in the tree stays.
	testkit.WriteTree(t, cfg.Root, map[string]string{"opt/fesa/Manual/1.0/x": "by hand"})

	version(t, st, "fec01", "Bar", "dev", map[string]string{"bin/bar": "build 2"})
	version(t, st, "fec01", "Foo", "1.0.0", map[string]string{"bin/foo": "republished"})
	st.WriteIndex(t, "fec01", nil)
	_, err = Boot(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"fesa/", "fesa/Bar/", "fesa/Bar/dev/", "fesa/Bar/dev/bin/", "fesa/Bar/dev/bin/bar",
		"fesa/Foo/", "fesa/Foo/1.0.0/", "fesa/Foo/1.0.0/bin/", "fesa/Foo/1.0.0/bin/foo",
		"fesa/Manual/", "fesa/Manual/1.0/", "fesa/Manual/1.0/x"}, testkit.Paths(t, filepath.Join(cfg.Root, "opt")))
	assert.Equal(t, "build 2", testkit.ReadFile(t, filepath.Join(cfg.Root, "opt/fesa/Bar/dev/bin/bar")))
	assertNoStaging(t, cfg.Root)
}

func softwareDirs(t *testing.T, root string) []string {
	var out []string
	for _, p := range testkit.Paths(t, filepath.Join(root, "opt/fesa")) {
		if strings.Count(p, "/") == 2 && strings.HasSuffix(p, "/") {
			out = append(out, "opt/fesa/"+strings.TrimSuffix(p, "/"))
		}
	}
	return out
}

// Software that leaves the INDEX is removed after the boot, versions before
// the previous one too; the previous one stays for a rollback unless
// keep_previous is off. Nothing the client did not install is touched.
func TestBootRemovesDroppedSoftware(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	boot := func(t *testing.T, cfg Config, fecName string) *Status {
		cfg.FEC = fecName
		status, err := Boot(context.Background(), cfg)
		require.NoError(t, err)
		return status
	}
	for i, vs := range [][2]string{{"1.0.0", "1.0.0"}, {"1.1.0", ""}, {"1.2.0", ""}} {
		fecName := "fec0" + string(rune('1'+i))
		version(t, st, fecName, "Foo", vs[0], map[string]string{"bin/foo": vs[0]})
		if vs[1] != "" {
			version(t, st, fecName, "Baz", vs[1], map[string]string{"bin/baz": vs[1]})
		}
		st.WriteIndex(t, fecName, nil)
	}
	for _, keep := range []bool{true, false} {
		t.Run(map[bool]string{true: "keep previous", false: "drop previous"}[keep], func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, ng.URL, "fec01")
			cfg.DropPrevious = !keep
			boot(t, cfg, "fec01")
			testkit.WriteTree(t, cfg.Root, map[string]string{"opt/fesa/Manual/1.0/x": "by hand", "opt/fesa/Foo/local.conf": "by hand"})
			assert.Equal(t, []string{"opt/fesa/Baz/1.0.0", "opt/fesa/Foo/1.0.0", "opt/fesa/Manual/1.0"}, softwareDirs(t, cfg.Root))

			status := boot(t, cfg, "fec02") // Foo upgraded, Baz dropped
			want := []string{"opt/fesa/Foo/1.0.0", "opt/fesa/Foo/1.1.0", "opt/fesa/Manual/1.0"}
			wantRemoved := []string{"opt/fesa/Baz/1.0.0"}
			if !keep {
				want = want[1:]
				wantRemoved = []string{"opt/fesa/Baz/1.0.0", "opt/fesa/Foo/1.0.0"}
			}
			assert.Equal(t, want, softwareDirs(t, cfg.Root))
			assert.ElementsMatch(t, wantRemoved, status.Removed)
			assert.NoDirExists(t, filepath.Join(cfg.Root, "opt/fesa/Baz"), "the empty software directory stays")
			assert.NoFileExists(t, filepath.Join(cfg.Root, "var/lib/fecdeploy/installed/software/Baz"), "the record of dropped software stays")

			boot(t, cfg, "fec03") // Foo upgraded again: 1.0.0 goes in any case
			want = []string{"opt/fesa/Foo/1.1.0", "opt/fesa/Foo/1.2.0", "opt/fesa/Manual/1.0"}
			if !keep {
				want = want[1:]
			}
			assert.Equal(t, want, softwareDirs(t, cfg.Root))
			assert.FileExists(t, filepath.Join(cfg.Root, "opt/fesa/Foo/local.conf"))
			assertNoStaging(t, cfg.Root)
		})
	}
}

// A forged record naming a directory outside the allowed roots, a path
// with "..", or one a kept version lies in, is never acted on.
func TestPruneStaysInsideAllowedRoots(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	version(t, st, "fec01", "Foo", "1.0.0", map[string]string{"bin/foo": "x"})
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	cfg.DropPrevious = true
	testkit.WriteTree(t, cfg.Root, map[string]string{
		"etc/passwd": "root", "opt/fesa/Foo/1.0.0/keep": "k",
		"var/lib/fecdeploy/installed/software/Evil": "sha256=" + strings.Repeat("a", 64) + " version=1 path=p dir=etc old=opt/../etc,/etc,opt/fesa/Foo/1.0.0/..,opt,opt/fesa,opt/fesa/Foo/1.0.0\n",
	})
	_, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(cfg.Root, "etc/passwd"))
	assert.FileExists(t, filepath.Join(cfg.Root, "opt/fesa/Foo/1.0.0/bin/foo"))
}

// An https base URL never silently turns into http.
func TestBootRefusesHTTPSToHTTPRedirect(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	version(t, st, "fec01", "Foo", "1.0.0", map[string]string{"bin/foo": "x"})
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	var hits int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, ng.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: client.Transport.(*http.Transport).TLSClientConfig.RootCAs}

	cfg := testConfig(t, srv.URL, "fec01")
	cfg.HTTPClient = client
	status, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrVerify)
	assert.ErrorContains(t, err, "redirected from https to plain http")
	assert.Equal(t, ExitVerify, ExitCode(err))
	assert.Equal(t, 1, hits, "a refused redirect is not retried")
	assert.Contains(t, status.Error, "allow_http_redirect")
	assert.NoDirExists(t, filepath.Join(cfg.Root, "opt"))

	cfg.AllowHTTPRedirect = true
	_, err = Boot(context.Background(), cfg)
	require.NoError(t, err, "allowed explicitly")
	assert.FileExists(t, filepath.Join(cfg.Root, "opt/fesa/Foo/1.0.0/bin/foo"))
}

// Broken state is repaired with a word: in the summary and the status file.
// A state directory that is a file is a clear error, not "0 scripts".
func TestBootReportsBrokenState(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	version(t, st, "fec01", "Foo", "1.0.0", map[string]string{"bin/foo": "x"})
	version(t, st, "fec01", "Bar", "1.0.0", map[string]string{"bin/bar": "x"})
	st.Init(t, "fec01", "10-ok", "#!/bin/sh\nexit 0\n")
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	_, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	state := filepath.Join(cfg.Root, "var/lib/fecdeploy")
	require.NoError(t, os.WriteFile(filepath.Join(state, "installed/software/Foo"), []byte("sha256=12"), 0o644)) // truncated
	require.NoError(t, os.Remove(filepath.Join(state, "installed/software/Bar")))
	require.NoError(t, os.Mkdir(filepath.Join(state, "installed/software/Bar"), 0o755)) // a directory in its place
	require.NoError(t, os.WriteFile(filepath.Join(state, "status.json"), []byte(`{"fec": "fec0`), 0o644))

	status, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	repairs := strings.Join(status.Repairs, "\n")
	assert.Contains(t, repairs, "installed/software/Foo is corrupt or truncated")
	assert.Contains(t, repairs, "installed/software/Bar was a directory")
	assert.Contains(t, repairs, "status.json of the last boot is not valid JSON")
	assertCounts(t, status, 2, 0, 0)
	var sum strings.Builder
	require.NoError(t, status.WriteSummary(&sum))
	assert.Contains(t, sum.String(), "repaired  install record")
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(state, "status.json")), `"repairs"`)
	status, err = Boot(context.Background(), cfg)
	require.NoError(t, err)
	assert.Empty(t, status.Repairs, "repaired for good")
	assertCounts(t, status, 0, 2, 0)

	// The state directory replaced by a file: a clear error, nothing runs.
	require.NoError(t, os.RemoveAll(state))
	require.NoError(t, os.WriteFile(state, []byte("oops"), 0o644))
	cfg.StatusFile = filepath.Join(t.TempDir(), "status.json")
	status, err = Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrInstall)
	assert.ErrorContains(t, err, "is a file, not a directory")
	assert.Empty(t, status.Scripts)
	assert.Empty(t, status.Entries)
}
