package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/fec"
)

func check(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String()
}

// Real boots (fec.Boot against a web storage over HTTP) write the status
// files the plugin judges.
func TestCheckFECBoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := clienttest.StorageIn(dir)
	st.Software(clienttest.Must, "scu01", "Foo_DU", "1.2.0", clienttest.Tree("opt/fesa/Foo_DU/1.2.0", map[string]string{"bin/foo": "foo"}))
	st.Init(clienttest.Must, "scu01", "10-ok", "#!/bin/sh\nexit 0\n")
	st.WriteIndex(clienttest.Must, "scu01", nil)
	srv := httptest.NewServer(st.Handler())
	defer srv.Close()
	root := t.TempDir()
	status := filepath.Join(t.TempDir(), "status.json")
	boot := func() {
		t.Helper()
		_, _ = fec.Boot(context.Background(), fec.Config{BaseURL: srv.URL, FEC: "scu01", Root: root, StatusFile: status})
		require.FileExists(t, status)
	}
	indexURL := srv.URL + "/" + "fecs/scu01/INDEX"

	boot()
	code, out := check(t, "", "-status", status, "-index", indexURL)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "FEC-BOOT OK - FEC scu01: 1 installed, 0 up to date, 0 failed, 1 scripts, 0 failed | installed=1 skipped=0 failed=0;;1;0 scripts_failed=0;;1;0 duration=")

	boot() // nothing new: skipped means up to date, still OK
	code, out = check(t, "", "-status", status, "-index", filepath.Join(dir, "fecs/scu01/INDEX"))
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "0 installed, 1 up to date")

	// The storage moves on; the FEC has not booted since: behind.
	st.Software(clienttest.Must, "scu01", "Bar_DU", "2.0.0", clienttest.Tree("opt/fesa/Bar_DU/2.0.0", map[string]string{"bin/bar": "bar"}))
	st.WriteIndex(clienttest.Must, "scu01", nil)
	code, out = check(t, "", "-status", status, "-index", indexURL)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "FEC-BOOT WARNING")
	assert.Contains(t, out, "behind: booted INDEX")

	// A failing init script is critical; the status read from stdin.
	st.Init(clienttest.Must, "scu01", "20-bad", "#!/bin/sh\necho broken >&2\nexit 3\n")
	st.WriteIndex(clienttest.Must, "scu01", nil)
	boot()
	data, err := os.ReadFile(status)
	require.NoError(t, err)
	code, out = check(t, string(data), "-status", "-", "-index", indexURL)
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "FEC-BOOT CRITICAL")
	assert.Contains(t, out, "init script 20-bad exited 3")
	assert.Contains(t, out, "scripts_failed=1;;1;0")

	// A corrupted archive is critical.
	e := st.Software(clienttest.Must, "scu01", "Baz_DU", "1.0.0", clienttest.Tree("opt/fesa/Baz_DU/1.0.0", map[string]string{"bin/baz": "baz"}))
	st.WriteIndex(clienttest.Must, "scu01", nil)
	raw, err := os.ReadFile(filepath.Join(dir, e.Path))
	require.NoError(t, err)
	raw[len(raw)/2] ^= 1
	st.WriteRaw(clienttest.Must, e.Path, raw)
	boot()
	code, out = check(t, "", "-status", status)
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "software Baz_DU 1.0.0 failed")

	// No status: UNKNOWN; a status that is not one: UNKNOWN; usage: UNKNOWN.
	code, out = check(t, "", "-status", filepath.Join(dir, "nothere.json"))
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "FEC-BOOT UNKNOWN - no boot status")
	code, out = check(t, "", "-status", srv.URL+"/fecs/nothere/status.json")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "404")
	code, out = check(t, "<html>", "-status", "-")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "not a fec-boot status file")
	code, _ = check(t, "")
	assert.Equal(t, 3, code)
}
