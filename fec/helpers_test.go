package fec

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
)

// archiveOf adds an archive of files (relative path -> content) unpacking
// under prefix to the FEC.
func archiveOf(t *testing.T, st *clienttest.Storage, fec string, kind index.Kind, name, version, prefix string, files map[string]string, format index.Format) index.Entry {
	t.Helper()
	return st.Archive(t, fec, kind, name, version, format, clienttest.Tree(prefix, files))
}

// lookup returns the FEC's entry of kind and name as last written.
func lookup(t *testing.T, st *clienttest.Storage, fec string, kind index.Kind, name string) index.Entry {
	t.Helper()
	e, ok := st.Index(fec).Lookup(kind, name)
	if !ok {
		t.Fatalf("no %s %s in the INDEX of %s", kind, name, fec)
	}
	return e
}

// testConfig is a Config for a FEC under a temp root with short timeouts.
func testConfig(t testing.TB, baseURL, fecName string) Config {
	root := t.TempDir()
	return Config{
		BaseURL:       baseURL,
		FEC:           fecName,
		Root:          root,
		Retries:       4,
		RetryWaitMin:  20 * time.Millisecond,
		RetryWaitMax:  200 * time.Millisecond,
		RetryAfterCap: 2 * time.Second,
		IdleTimeout:   2 * time.Second,
		Deadline:      20 * time.Second,
		ScriptTimeout: 5 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// assertNoStaging fails when a staging directory or temp file was left
// under root.
func assertNoStaging(t *testing.T, root string) {
	t.Helper()
	for _, p := range testkit.Paths(t, root) {
		assert.NotContains(t, p, archive.StagingPrefix, "left behind")
		assert.NotContains(t, p, ".tmp-", "left behind")
	}
}
