package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/help.golden from the current output")

// TestHelpGolden pins every help text (the command list and each command's
// -help) byte for byte: the command layer may be reorganised, what a user
// reads may not change unnoticed. Regenerate with go test -run Help -update.
func TestHelpGolden(t *testing.T) {
	t.Setenv("FECDEPLOY_STORAGE", "")
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	var b strings.Builder
	code, out, errs := fecctl(t, "-help")
	assert.Equal(t, 0, code)
	assert.Empty(t, out)
	b.WriteString("$ fecctl -help\n" + errs)
	var names []string
	for _, line := range strings.Split(errs, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(f) > 1 {
			names = append(names, f[0])
		}
	}
	require.NotEmpty(t, names)
	for _, n := range names {
		code, out, errs := fecctl(t, n, "-help")
		assert.Equal(t, 0, code, n)
		assert.Empty(t, out, n)
		b.WriteString("\n$ fecctl " + n + " -help\n" + errs)
	}
	golden := filepath.Join("testdata", "help.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), b.String())
}

// TestOutputGolden pins the text output of the read and switch commands
// (ls, show, who-uses, switch, rollback, verify) on a small storage with two
// released versions. Regenerate with go test -run Output -update.
func TestOutputGolden(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	ctx := context.Background()
	var b strings.Builder
	step := func(args ...string) {
		t.Helper()
		code, out, errs := fecctl(t, args...)
		fmt.Fprintf(&b, "$ fecctl %s\n%s%s[exit %d]\n", strings.Join(args, " "), out, errs, code)
	}
	step("init")
	step("add-fec", "-arch", "x86_64", "scu01")
	step("add-fec", "-arch", "x86_64", "scu02")
	step("add-fec", "-arch", "ppc", "ppc01")
	st, err := storage.Open(base)
	require.NoError(t, err)
	src := testkit.WriteTree(t, filepath.Join(dir, "src"), map[string]string{"bin/Foo_DU": "#!/bin/sh\necho foo\n"})
	for _, v := range []string{"1.0.0", "1.1.0"} {
		_, err := publish.Release(ctx, st, publish.Request{
			Name: "Foo_DU", Version: v, Arch: "x86_64", SourceDir: src, Prefix: "opt/fesa/Foo_DU/" + v,
		})
		require.NoError(t, err)
	}
	step("link", "scu01", "Foo_DU", "1.0.0")
	step("link", "scu02", "Foo_DU", "1.0.0")
	step("ls")
	step("ls", "-json")
	step("show", "scu01")
	step("show", "-json", "scu01")
	step("who-uses", "Foo_DU")
	step("who-uses", "Foo_DU", "9.9.9")
	step("switch", "scu01", "Foo_DU", "1.1.0")
	step("switch", "scu01", "Foo_DU", "1.1.0")
	step("switch", "-all-fecs", "Foo_DU", "1.1.0")
	step("rollback", "-json", "scu01", "Foo_DU")
	step("who-uses", "-json", "Foo_DU")
	step("verify")
	step("reindex")
	step("unsign")
	step("keygen", filepath.Join(dir, "keys", "signing"))
	step("keygen", filepath.Join(dir, "keys", "signing"))
	step("write-shell-client", filepath.Join(dir, "img", "fec-boot.sh"))
	step("write-shell-client", filepath.Join(dir, "img", "fec-boot.sh"))
	got := strings.ReplaceAll(b.String(), dir, "$DIR")
	golden := filepath.Join("testdata", "output.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

// Every registered command has a name of its own: a second file
// registering an existing name would shadow it silently.
func TestCommandNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commands(context.Background(), io.Discard, io.Discard) {
		assert.False(t, seen[c.Name], "command %q registered twice", c.Name)
		seen[c.Name] = true
		assert.NotEmpty(t, c.Summary, c.Name)
		assert.NotEmpty(t, c.Examples, c.Name)
	}
}
