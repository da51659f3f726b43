package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fecPack(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPackPublishLink(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	st, err := storage.Init(base)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}))
	require.NoError(t, st.AddFEC(ctx, "ppc01", storage.FECConfig{Arch: "ppc"}))
	src := testkit.WriteTree(t, filepath.Join(dir, "src"), map[string]string{"bin/foo": "#!/bin/sh\n", "etc/foo.conf": "x=1\n"})
	common := []string{"-storage", base, "-quiet", "-name", "Foo_DU", "-arch", "x86_64", "-prefix", "opt/fesa/Foo_DU/1.0.0"}

	code, out, errs := fecPack(append(common, "-version", "1.0.0", "-link", "scu01", src)...)
	require.Equal(t, 0, code, errs)
	require.FileExists(t, filepath.Join(base, "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst"), "the archive at its documented place")
	require.Contains(t, out, "linked to scu01")
	require.Contains(t, testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX")), "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst",
		"INDEX names the archive")

	// Same tree again: reproducible bytes, so nothing changes.
	snap := func() map[string]string {
		// the lock file's content names its last holder
		return testkit.Snapshot(t, base, testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }})
	}
	before := snap()
	code, out, errs = fecPack(append(common, "-version", "1.0.0", src)...)
	require.Equal(t, 0, code, "republish identical: %s", errs)
	require.Contains(t, out, "unchanged")
	require.Equal(t, before, snap(), "republishing identical bytes changes nothing")
	// Different bytes under the same productive version: refused, nothing lost.
	testkit.WriteTree(t, src, map[string]string{"bin/foo": "#!/bin/sh\necho changed\n"})
	code, _, errs = fecPack(append(common, "-version", "1.0.0", src)...)
	require.Equal(t, cli.ExitRefused, code, "republish different: %s", errs)
	require.Contains(t, errs, "immutable")
	require.Equal(t, before, snap(), "the published archive is unchanged")

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{append(common, "-version", "v1.1.0", src), cli.ExitUsage, "v1.1.0"},
		{append(common, "-version", "1.1.0", "-format", "lz4", src), cli.ExitUsage, "lz4"},
		{append(common, "-version", "1.1.0"), cli.ExitUsage, "one SOURCE"},
		{append(common, "-version", "1.1.0", filepath.Join(dir, "missing")), cli.ExitError, "missing"},
		{[]string{"-storage", filepath.Join(dir, "nostorage"), "-quiet", "-name", "Foo_DU", "-arch", "x86_64", "-prefix", "opt/x", "-version", "1.1.0", src}, cli.ExitNotFound, "not a fecdeploy web storage"},
		{[]string{"-storage", base, "-quiet", "-name", "Foo DU", "-arch", "x86_64", "-prefix", "opt/x", "-version", "1.1.0", src}, cli.ExitUsage, "' ' (space)"},
		{[]string{"-storage", base, "-quiet", "-name", "Foo_DU", "-arch", "x86_64", "-prefix", "../etc", "-version", "1.1.0", src}, cli.ExitUsage, "../etc"},
	} {
		code, _, errs := fecPack(tc.args...)
		assert.Equal(t, tc.code, code, "fec-pack %q: %s", tc.args, errs)
		assert.Contains(t, errs, tc.msg, "fec-pack %q", tc.args)
	}
	assert.Equal(t, before, snap(), "refused releases leave nothing behind")
	// An x86_64 build is never linked to a ppc FEC.
	code, _, errs = fecPack(append(common, "-version", "1.0.1", "-link", "ppc01", src)...)
	require.Equal(t, cli.ExitRefused, code, "linking x86_64 to ppc01: %s", errs)
	require.Contains(t, errs, "ppc")
	require.NotContains(t, testkit.ReadFile(t, filepath.Join(base, "fecs/ppc01/INDEX")), "Foo_DU", "ppc01 got an x86_64 archive")
}

func TestPackOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := testkit.WriteTree(t, filepath.Join(dir, "src"), map[string]string{"bin/foo": "#!/bin/sh\n"})
	out := filepath.Join(dir, "foo.tar.gz")
	code, stdout, errs := fecPack("-quiet", "-output", out, "-format", "gzip", "-prefix", "opt/foo/dev", src)
	require.Equal(t, 0, code, errs)
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	format, _, err := index.Detect(f)
	require.NoError(t, err)
	require.Equal(t, index.FormatGzip, format)
	require.Contains(t, stdout, "packed")
	// A failed pack leaves no file under the final name, nor a temporary one.
	before := testkit.Snapshot(t, dir)
	bad := filepath.Join(dir, "bad.tar.gz")
	code, _, errs = fecPack("-quiet", "-output", bad, "-prefix", "opt/foo/dev", filepath.Join(dir, "nope"))
	require.Equal(t, cli.ExitError, code, "packing a missing directory: %s", errs)
	require.Equal(t, before, testkit.Snapshot(t, dir))
}
