package main

import (
	"bytes"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// -help names examples; every example's flags are ones fec-boot accepts.
func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"--help"}, &stdout, &stderr))
	help := stdout.String()
	_, ex, ok := strings.Cut(help, "Examples:\n")
	require.True(t, ok, "no Examples section:\n%s", help)
	ex, _, _ = strings.Cut(ex, "\n\n")
	n := 0
	for _, line := range strings.Split(ex, "\n") {
		// the command, then (after 3 or more spaces) its description
		f := strings.Fields(regexp.MustCompile(`\s{3,}`).Split(strings.TrimSpace(line), 2)[0])
		for len(f) > 0 && strings.Contains(f[0], "=") { // VAR=value prefix
			f = f[1:]
		}
		if len(f) == 0 || f[0] != "fec-boot" {
			continue
		}
		n++
		var args []string
		for _, a := range f[1:] {
			if strings.HasPrefix(a, "(") {
				break
			}
			args = append(args, a)
		}
		_, _, err := loadConfig(append(args, "--cmdline", "none", "--conf", "/dev/null"), func(string) string { return "" })
		assert.NoError(t, err, "example %q", line)
	}
	assert.GreaterOrEqual(t, n, 3, "examples in -help")
}

// On a terminal a long download shows a bar on stderr that clears its line.
func TestProgressOnTerminal(t *testing.T) {
	orig := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	t.Cleanup(func() { isTerminal = orig })
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "Big_DU", "1.0.0", clienttest.Tree("opt/big", map[string]string{"blob": strings.Repeat("x", 1<<20)}))
	st.WriteIndex(t, "fec01", nil)
	srv := httptest.NewServer(st.Handler())
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	code := run([]string{"--cmdline", "none", "--conf", "/dev/null", "--start-jitter", "0", "--url", srv.URL, "--fec", "fec01",
		"--root", t.TempDir()}, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	assert.Contains(t, stderr.String(), "\rfec-boot: downloading [", "progress bar on stderr")
	assert.Contains(t, stderr.String(), "\x1b[K", "the bar clears the rest of its line")
	assert.Contains(t, stderr.String(), "100%")
}
