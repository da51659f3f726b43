package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	base := []string{"--cmdline", "none", "--conf", "/dev/null", "--start-jitter", "0"}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, 0, "Exit codes", ""},
		{"no url", base, 2, "", "no base URL"},
		{"unknown flag", []string{"--bogus"}, 2, "", "flag provided but not defined"},
		{"extra argument", append(base, "--url", srv.URL, "--fec", "fec01", "oops"), 2, "", `unexpected argument "oops"`},
		{"install init", append(append([]string{"install"}, base...), "--url", srv.URL, "--fec", "fec01", "init"), 2, "", "cannot be installed"},
		{"unknown FEC", append(base, "--url", srv.URL, "--fec", "fec99", "--root", t.TempDir()), 3, `FEC "fec99" is not known`, ""},
		{"install, flags first", append(base, "--url", srv.URL, "--fec", "fec99", "--root", t.TempDir(), "install", "software"), 3, "fec-boot install of FEC fec99", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
		})
	}
}
