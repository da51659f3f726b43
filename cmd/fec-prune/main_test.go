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

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/storage"
)

// fixture: Foo_DU 1.0.0..1.4.0 published long ago, fec01 links 1.0.0.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.AddFEC(ctx, "fec01", storage.FECConfig{Arch: "x86_64"}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"} {
		body := append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte{byte(i)}, 100)...)
		if _, err := st.Publish(ctx, storage.PublishRequest{Kind: index.KindSoftware, Name: "Foo_DU", Version: v,
			Arch: "x86_64", Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, "software/Foo_DU", v), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func versions(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "software/Foo_DU"))
	if err != nil {
		t.Fatal(err)
	}
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
	dir := fixture(t)
	// The link was made just now, to 1.0.0, and nothing was unlinked (the
	// link log says so): 1.1.0, 4th newest and never linked, goes even
	// inside the default grace period; nothing is removed without -apply.
	code, out, _ := runCmd("--storage", dir)
	if code != 0 || !strings.Contains(out, "1 to remove") || !strings.Contains(out, "remove Foo_DU 1.1.0") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}

	code, out, errOut := runCmd("--storage", dir, "--grace", "0", "--keep", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"remove Foo_DU 1.1.0: 4th newest productive version, not linked (keeping 2)",
		"remove Foo_DU 1.2.0: 3rd newest productive version, not linked (keeping 2)",
		"dry run: nothing removed; run with -apply to remove 2 version(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "warning: Foo_DU: 3 productive versions kept, more than 2") {
		t.Errorf("no warning on stderr: %q", errOut)
	}
	if got := versions(t, dir); got != "1.0.0 1.1.0 1.2.0 1.3.0 1.4.0" {
		t.Fatalf("dry run removed something: %s", got)
	}
	if code, _, _ := runCmd("--storage", dir, "--grace", "0", "--keep", "2", "--fail-on-warnings"); code != 6 {
		t.Errorf("--fail-on-warnings: exit %d, want 6", code)
	}

	code, out, errOut = runCmd("--storage", dir, "--grace", "0", "--keep", "2", "--apply", "--json")
	if code != 0 {
		t.Fatalf("apply: exit %d: %s", code, errOut)
	}
	var doc struct {
		DryRun  bool `json:"dry_run"`
		Removed []struct {
			Software, Version, Reason string
		} `json:"removed"`
		FreedBytes int64 `json:"freed_bytes"`
		Warnings   []struct{ Text string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if doc.DryRun || len(doc.Removed) != 2 || doc.Removed[0].Version != "1.2.0" || doc.Removed[1].Version != "1.1.0" ||
		doc.Removed[0].Reason != "superseded" || doc.FreedBytes < 2*104 || len(doc.Warnings) != 1 {
		t.Errorf("report %+v", doc)
	}
	if got := versions(t, dir); got != "1.0.0 1.3.0 1.4.0" {
		t.Errorf("after --apply: %s", got)
	}
}

func TestUsageAndErrors(t *testing.T) {
	dir := fixture(t)
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
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
	if got := versions(t, dir); got != "1.0.0 1.1.0 1.2.0 1.3.0 1.4.0" {
		t.Errorf("errors removed something: %s", got)
	}
}
