package fec_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/verify"
)

// exampleStorage serves a web storage whose INDEX for fec01 names one
// archive; tamper changes the archive's bytes after the INDEX was written.
func exampleStorage(tamper bool) (*httptest.Server, func()) {
	dir, _ := os.MkdirTemp("", "example-storage-")
	st := clienttest.StorageIn(dir)
	e := st.Archive(clienttest.Must, "fec01", index.KindSoftware, "Foo_DU", "1.2.0", index.FormatZstd,
		clienttest.Tree("opt/fesa/Foo_DU/1.2.0", map[string]string{"bin/foo": "#!/bin/sh\necho foo\n"}))
	st.WriteIndex(clienttest.Must, "fec01", nil)
	if tamper {
		data, _ := os.ReadFile(filepath.Join(dir, e.Path))
		data[len(data)/2] ^= 1
		st.WriteRaw(clienttest.Must, e.Path, data)
	}
	srv := httptest.NewServer(st.Handler())
	return srv, func() { srv.Close(); os.RemoveAll(dir) }
}

// Boot downloads the archive, checks its size and sha256 while streaming,
// unpacks it into a staging directory and commits it under the root.
func ExampleBoot() {
	srv, done := exampleStorage(false)
	defer done()
	root, _ := os.MkdirTemp("", "example-root-")
	defer os.RemoveAll(root)

	st, err := fec.Boot(context.Background(), fec.Config{BaseURL: srv.URL, FEC: "fec01", Root: root})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range st.Entries {
		fmt.Println(e.Action, e.Kind, e.Name, e.Version)
	}
	foo, _ := os.ReadFile(filepath.Join(root, "opt/fesa/Foo_DU/1.2.0/bin/foo"))
	fmt.Printf("bin/foo: %q\n", foo)

	// A second boot finds the same sha256 installed and downloads nothing.
	st, _ = fec.Boot(context.Background(), fec.Config{BaseURL: srv.URL, FEC: "fec01", Root: root})
	fmt.Println(st.Entries[0].Action, "exit code", st.ExitCode)
	// Output:
	// installed software Foo_DU 1.2.0
	// bin/foo: "#!/bin/sh\necho foo\n"
	// skipped exit code 0
}

// Bytes that differ from the INDEX are refused and nothing is written.
func ExampleBoot_tampered() {
	srv, done := exampleStorage(true)
	defer done()
	root, _ := os.MkdirTemp("", "example-root-")
	defer os.RemoveAll(root)

	st, err := fec.Boot(context.Background(), fec.Config{BaseURL: srv.URL, FEC: "fec01", Root: root})
	fmt.Println(errors.Is(err, fec.ErrVerify), errors.Is(err, verify.ErrDigestMismatch), fec.ExitCode(err))
	fmt.Println(st.Entries[0].Action, strings.Contains(st.Entries[0].Error, "sha256 mismatch"))
	_, statErr := os.Stat(filepath.Join(root, "opt"))
	fmt.Println("opt exists:", statErr == nil)
	// Output:
	// true true 4
	// failed true
	// opt exists: false
}

// Status.WriteSummary is what fec-boot prints at the end of a boot.
func ExampleStatus_WriteSummary() {
	st := &fec.Status{
		FEC: "fec01", BaseURL: "http://web01/fecdeploy", Command: "boot", IndexSHA256: "ab12cd34ef56ab12cd34ef56",
		DurationMS: 1234,
		Entries: []fec.EntryStatus{
			{Kind: "software", Name: "Foo_DU", Version: "1.2.0", Action: fec.ActionInstalled, Bytes: 5 << 20, DurationMS: 800},
			{Kind: "software", Name: "Bar_DU", Version: "dev", Dev: true, Action: fec.ActionSkipped},
		},
		Scripts: []fec.ScriptStatus{{Name: "10-network", Action: fec.ActionRan, DurationMS: 30}},
	}
	st.WriteSummary(os.Stdout)
	// Output:
	// fec-boot boot of FEC fec01 from http://web01/fecdeploy (INDEX sha256 ab12cd34ef56)
	//   installed software      Foo_DU 1.2.0                            5.0 MiB    800ms
	//   skipped   software      Bar_DU dev (dev)                              -        -
	//   ran       init          10-network                               exit 0     30ms
	// 1 installed, 1 skipped, 0 failed; 1 scripts, 0 failed; 1.234s; exit code 0
}

// ReadConfig reads a FEC's configuration the way fec-boot does, without
// argv: here /etc/fecdeploy.conf of an image, overridden by the environment.
// A Yocto build checks its fecdeploy.conf like this.
func ExampleReadConfig() {
	dir, _ := os.MkdirTemp("", "example-conf-")
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "fecdeploy.conf")
	os.WriteFile(conf, []byte("url=http://web01/fecdeploy\nallowed_roots=opt, srv\n"), 0o644)
	env := map[string]string{"FECDEPLOY_FEC": "fec07"}

	cfg, err := fec.ReadConfig(fec.Sources{
		ConfPath:    conf,
		CmdlinePath: "none", // not this machine's /proc/cmdline
		Getenv:      func(k string) string { return env[k] },
		Values:      map[string]string{"dry_run": "true"}, // what a flag would set
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.BaseURL, cfg.FEC, cfg.AllowedRoots, cfg.DryRun, cfg.StartJitter)

	// A typo in the file is refused, not silently ignored.
	os.WriteFile(conf, []byte("ulr=http://web01/fecdeploy\n"), 0o644)
	_, err = fec.ReadConfig(fec.Sources{ConfPath: conf, CmdlinePath: "none"})
	fmt.Println(errors.Is(err, fec.ErrConfig), fec.ExitCode(err))
	// Output:
	// http://web01/fecdeploy fec07 [opt srv] true 5s
	// true 2
}
