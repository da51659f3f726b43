package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture: Foo_DU 1.0.0..1.4.0 published long ago, fec01 links 1.0.0.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Init(dir)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, st.AddFEC(ctx, "fec01", storage.FECConfig{Arch: "x86_64"}))
	old := time.Now().Add(-30 * 24 * time.Hour)
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"} {
		// a real archive: Link checks its entries with the clients' rules
		body := clienttest.Compress(t, index.FormatZstd, clienttest.Tar(t, clienttest.Tree("opt/foo/"+v,
			map[string]string{"f": string(bytes.Repeat([]byte{byte('a' + i)}, 100))})))
		_, err := st.Publish(ctx, storage.PublishRequest{Kind: index.KindSoftware, Name: "Foo_DU", Version: version.MustParse(v),
			Arch: "x86_64", Body: bytes.NewReader(body)})
		require.NoError(t, err)
		require.NoError(t, os.Chtimes(filepath.Join(dir, "software/Foo_DU", v), old, old))
	}
	require.NoError(t, st.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
	return dir
}

func versions(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "software/Foo_DU"))
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDryRunThenApply(t *testing.T) {
	t.Parallel()
	dir := fixture(t)
	// The link was made just now, to 1.0.0, and nothing was unlinked (the
	// link log says so): 1.1.0, 4th newest and never linked, goes even
	// inside the default grace period; nothing is removed without -apply.
	code, out, _ := runCmd("--storage", dir)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "1 to remove")
	require.Contains(t, out, "remove Foo_DU 1.1.0")

	code, out, errOut := runCmd("--storage", dir, "--grace", "0", "--keep", "2")
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"remove Foo_DU 1.1.0: 4th newest productive version, not linked (keeping 2)",
		"remove Foo_DU 1.2.0: 3rd newest productive version, not linked (keeping 2)",
		"dry run: nothing removed; run with -apply to remove 2 version(s)"} {
		assert.Contains(t, out, want, "dry run output")
	}
	assert.Contains(t, errOut, "warning: Foo_DU: 3 productive versions kept, more than 2", "the warning on stderr")
	require.Equal(t, "1.0.0 1.1.0 1.2.0 1.3.0 1.4.0", versions(t, dir), "dry run removed something")
	code, _, _ = runCmd("--storage", dir, "--grace", "0", "--keep", "2", "--fail-on-warnings")
	assert.Equal(t, cli.ExitProblems, code, "--fail-on-warnings")

	code, out, errOut = runCmd("--storage", dir, "--grace", "0", "--keep", "2", "--apply", "--json")
	require.Equal(t, 0, code, "apply: %s", errOut)
	var doc struct {
		DryRun  bool `json:"dry_run"`
		Removed []struct {
			Software, Version, Reason string
		} `json:"removed"`
		FreedBytes int64 `json:"freed_bytes"`
		Warnings   []struct{ Text string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	assert.False(t, doc.DryRun)
	require.Len(t, doc.Removed, 2)
	assert.Equal(t, "1.2.0", doc.Removed[0].Version)
	assert.Equal(t, "1.1.0", doc.Removed[1].Version)
	assert.Equal(t, "superseded", doc.Removed[0].Reason)
	assert.GreaterOrEqual(t, doc.FreedBytes, int64(2*104))
	assert.Len(t, doc.Warnings, 1)
	assert.Equal(t, "1.0.0 1.3.0 1.4.0", versions(t, dir), "after --apply")
}

func TestUsageAndErrors(t *testing.T) {
	t.Parallel()
	dir := fixture(t)
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }}
	before := testkit.Snapshot(t, dir, noLock)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--help"}, 0, "Usage: fec-prune"},
		{[]string{"--storage", dir, "--keep", "0"}, 2, "keep at least 1"},
		{[]string{"--storage", dir, "--grace", "-1h"}, 2, "must not be negative"},
		{[]string{"--storage", dir, "extra"}, 2, "unexpected argument"},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"--storage", dir, "--software", "Bar"}, 3, "no software \"Bar\""},
		{[]string{"--storage", dir, "--software", "Foo DU"}, 2, "space"},
		{[]string{"--storage", t.TempDir()}, 3, "not a fecdeploy web storage"},
	} {
		code, _, errOut := runCmd(tc.args...)
		assert.Equal(t, tc.code, code, "%q: %s", tc.args, errOut)
		assert.Contains(t, errOut, tc.msg, "%q", tc.args)
	}
	assert.Equal(t, before, testkit.Snapshot(t, dir, noLock), "errors changed the storage")
}
