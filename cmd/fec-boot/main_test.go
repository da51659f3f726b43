package main

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/stretchr/testify/assert"
)

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(clienttest.NewStorage(t).Handler()) // knows no FEC
	t.Cleanup(srv.Close)
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
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			assert.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tc.stdout)
			assert.Contains(t, stderr.String(), tc.stderr)
		})
	}
}
