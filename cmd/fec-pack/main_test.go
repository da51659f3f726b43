package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

func fecPack(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func tree(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPackPublishLink(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	st, err := storage.Init(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddFEC(ctx, "ppc01", storage.FECConfig{Arch: "ppc"}); err != nil {
		t.Fatal(err)
	}
	src := tree(t, filepath.Join(dir, "src"), map[string]string{"bin/foo": "#!/bin/sh\n", "etc/foo.conf": "x=1\n"})
	common := []string{"-storage", base, "-quiet", "-name", "Foo_DU", "-arch", "x86_64", "-prefix", "opt/fesa/Foo_DU/1.0.0"}

	code, out, errs := fecPack(append(common, "-version", "1.0.0", "-link", "scu01", src)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	archivePath := filepath.Join(base, "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst")
	first, err := os.ReadFile(archivePath)
	if err != nil {
		t.Fatalf("archive not at its documented place: %v\n%s", err, out)
	}
	if !strings.Contains(out, "linked to scu01") {
		t.Fatalf("output: %s", out)
	}
	idx, _ := os.ReadFile(filepath.Join(base, "fecs/scu01/INDEX"))
	if !strings.Contains(string(idx), "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst") {
		t.Fatalf("INDEX does not name the archive:\n%s", idx)
	}

	// Same tree again: reproducible bytes, so nothing changes.
	if code, out, errs := fecPack(append(common, "-version", "1.0.0", src)...); code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("republish identical: exit %d %s %s", code, out, errs)
	}
	// Different bytes under the same productive version: refused, nothing lost.
	tree(t, src, map[string]string{"bin/foo": "#!/bin/sh\necho changed\n"})
	code, _, errs = fecPack(append(common, "-version", "1.0.0", src)...)
	if code != cli.ExitRefused || !strings.Contains(errs, "immutable") {
		t.Fatalf("republish different: exit %d %s", code, errs)
	}
	if now, _ := os.ReadFile(archivePath); !bytes.Equal(now, first) {
		t.Fatal("the published archive changed")
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{append(common, "-version", "v1.1.0", src), cli.ExitUsage, "v1.1.0"},
		{append(common, "-version", "1.1.0", "-format", "lz4", src), cli.ExitUsage, "lz4"},
		{append(common, "-version", "1.1.0"), cli.ExitUsage, "SOURCE_DIR"},
		{append(common, "-version", "1.1.0", filepath.Join(dir, "missing")), cli.ExitError, "missing"},
		{[]string{"-storage", filepath.Join(dir, "nostorage"), "-quiet", "-name", "Foo_DU", "-arch", "x86_64", "-prefix", "opt/x", "-version", "1.1.0", src}, cli.ExitNotFound, "not a fecdeploy web storage"},
		{[]string{"-storage", base, "-quiet", "-name", "Foo DU", "-arch", "x86_64", "-prefix", "opt/x", "-version", "1.1.0", src}, cli.ExitUsage, "' ' (space)"},
		{[]string{"-storage", base, "-quiet", "-name", "Foo_DU", "-arch", "x86_64", "-prefix", "../etc", "-version", "1.1.0", src}, cli.ExitUsage, "../etc"},
	} {
		code, _, errs := fecPack(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("fec-pack %q: exit %d (want %d), stderr %q (want it to mention %q)", tc.args, code, tc.code, errs, tc.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "software/Foo_DU/1.1.0")); !os.IsNotExist(err) {
		t.Errorf("a refused release left software/Foo_DU/1.1.0 behind: %v", err)
	}
	// An x86_64 build is never linked to a ppc FEC.
	code, _, errs = fecPack(append(common, "-version", "1.0.1", "-link", "ppc01", src)...)
	if code != cli.ExitRefused || !strings.Contains(errs, "ppc") {
		t.Fatalf("linking x86_64 to ppc01: exit %d %s", code, errs)
	}
	ppcIdx, _ := os.ReadFile(filepath.Join(base, "fecs/ppc01/INDEX"))
	if strings.Contains(string(ppcIdx), "Foo_DU") {
		t.Fatalf("ppc01 got an x86_64 archive:\n%s", ppcIdx)
	}
}

func TestPackOnly(t *testing.T) {
	dir := t.TempDir()
	src := tree(t, filepath.Join(dir, "src"), map[string]string{"bin/foo": "#!/bin/sh\n"})
	out := filepath.Join(dir, "foo.tar.gz")
	code, stdout, errs := fecPack("-quiet", "-output", out, "-format", "gzip", "-prefix", "opt/foo/dev", src)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("not a gzip file: %v", err)
	}
	if !strings.Contains(stdout, "packed") {
		t.Fatalf("stdout: %s", stdout)
	}
	// A failed pack leaves no file under the final name.
	bad := filepath.Join(dir, "bad.tar.gz")
	if code, _, _ := fecPack("-quiet", "-output", bad, "-prefix", "opt/foo/dev", filepath.Join(dir, "nope")); code == 0 {
		t.Fatal("packing a missing directory succeeded")
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*bad*")); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}
