package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
)

// fecctl and fec-pack run in-process against a temp storage; this checks the
// wiring (flags, one library call, exit codes), the library has its own tests.

func fecctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestWorkflow(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	mustOK := func(args ...string) string {
		t.Helper()
		code, out, errs := fecctl(t, args...)
		if code != 0 {
			t.Fatalf("fecctl %v: exit %d: %s", args, code, errs)
		}
		return out
	}
	mustOK("init")
	mustOK("add-fec", "-arch", "x86_64", "scu01")
	mustOK("add-fec", "-arch", "ppc", "ppc01")
	script := filepath.Join(dir, "net.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho net\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustOK("add-script", "10-network", script)
	mustOK("link-init", "scu01", "10-network")

	var show struct {
		FEC     string        `json:"fec"`
		Entries []index.Entry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(mustOK("show", "-json", "scu01")), &show); err != nil {
		t.Fatal(err)
	}
	if show.FEC != "scu01" || len(show.Entries) != 1 || show.Entries[0].Name != "10-network" {
		t.Fatalf("show: %+v", show)
	}
	if out := mustOK("ls"); !strings.Contains(out, "ppc01") || !strings.Contains(out, "gzip,xz") {
		t.Fatalf("ls: %s", out)
	}
	if out := mustOK("verify"); !strings.Contains(out, "0 problems") {
		t.Fatalf("verify: %s", out)
	}

	// Keys and signing.
	mustOK("keygen", filepath.Join(dir, "keys", "signing"))
	if code, _, _ := fecctl(t, "keygen", filepath.Join(dir, "keys", "signing")); code != cli.ExitError {
		t.Fatalf("keygen over an existing key: exit %d, want %d", code, cli.ExitError)
	}
	mustOK("sign", "-sign-key", filepath.Join(dir, "keys", "signing.key"))
	data, _ := os.ReadFile(filepath.Join(base, "fecs/scu01/INDEX"))
	sig, _ := os.ReadFile(filepath.Join(base, "fecs/scu01/INDEX.sig"))
	pub, _ := os.ReadFile(filepath.Join(dir, "keys", "signing.pub"))
	keys, err := index.ParsePublicKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := index.VerifySignature(data, sig, keys); err != nil {
		t.Fatalf("signature: %v", err)
	}
	// Without the key, a change to the signed storage is refused.
	if code, _, errs := fecctl(t, "unlink", "-kind", "init", "scu01", "10-network"); code != cli.ExitRefused || !strings.Contains(errs, "signing key") {
		t.Fatalf("unlink without the key: exit %d %s", code, errs)
	}
	if now, _ := os.ReadFile(filepath.Join(base, "fecs/scu01/INDEX")); string(now) != string(data) {
		t.Fatal("INDEX changed")
	}
	mustOK("unlink", "-kind", "init", "-sign-key", filepath.Join(dir, "keys", "signing.key"), "scu01", "10-network")
	if out := mustOK("unsign"); !strings.Contains(out, "fecs/scu01/INDEX.sig") {
		t.Fatalf("unsign: %s", out)
	}

	// The shell client comes out byte-identical.
	mustOK("write-shell-client", filepath.Join(dir, "img", "fec-boot.sh"))
	if st, err := os.Stat(filepath.Join(dir, "img", "fec-boot.sh")); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("write-shell-client: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	dir := t.TempDir()
	base := filepath.Join(dir, "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	if code, _, errs := fecctl(t, "init"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := fecctl(t, "add-fec", "-arch", "x86_64", "scu01"); code != 0 {
		t.Fatal(errs)
	}
	snapshot := func() string {
		var b strings.Builder
		filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
			if err == nil {
				rel, _ := filepath.Rel(base, p)
				if !strings.HasPrefix(filepath.Base(p), ".lock") {
					b.WriteString(rel + " " + info.Mode().String() + "\n")
				}
			}
			return nil
		})
		return b.String()
	}
	notArchive := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notArchive, []byte("not an archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{}, cli.ExitUsage, "no command"},
		{[]string{"frobnicate"}, cli.ExitUsage, "unknown command"},
		{[]string{"add-fec", "-arch", "x86_64", "bad name"}, cli.ExitUsage, "' ' (space)"},
		{[]string{"add-fec", "-arch", "x86_64", "global"}, cli.ExitUsage, "shared init scripts"},
		{[]string{"add-fec", "scu02"}, cli.ExitUsage, "-arch is required"},
		{[]string{"add-fec", "-arch", "x86_64", "scu01"}, cli.ExitRefused, "scu01"},
		{[]string{"link", "nofec", "Foo", "1.0.0"}, cli.ExitNotFound, "nofec"},
		{[]string{"link", "scu01", "Foo", "1.0.0"}, cli.ExitNotFound, "Foo"},
		{[]string{"link", "scu01", "Foo"}, cli.ExitUsage, "FEC NAME VERSION"},
		{[]string{"show", "nofec"}, cli.ExitNotFound, "nofec"},
		{[]string{"ls", "-storage", dir}, cli.ExitNotFound, "not a fecdeploy web storage"},
		{[]string{"sign"}, cli.ExitUsage, "no signing key"},
		{[]string{"link-init", "scu01", "99-nothing"}, cli.ExitNotFound, "99-nothing"},
		{[]string{"put", "-kind", "configuration", "scu01", "notes", notArchive}, cli.ExitUsage, "not a zstd, gzip or xz"},
		{[]string{"put", "-kind", "init", "scu01", "90-x", filepath.Join(dir, "missing.sh")}, cli.ExitError, "missing.sh"},
		{[]string{"add-script", "10-x", filepath.Join(dir, "missing.sh")}, cli.ExitError, "missing.sh"},
		{[]string{"ls", "-sign-key", filepath.Join(dir, "missing.key")}, cli.ExitError, "missing.key"},
		{[]string{"serve", "-storage", dir}, cli.ExitNotFound, "not a fecdeploy web storage"},
		{[]string{"switch", "scu01", "Foo", "1.0.0"}, cli.ExitNotFound, "Foo"},
	} {
		code, _, errs := fecctl(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("fecctl %q: exit %d (want %d), stderr %q (want it to mention %q)", tc.args, code, tc.code, errs, tc.msg)
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("bad input changed the storage:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
