package client_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// header is the comment block at the top of fec-boot.sh.
func header(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(string(client.Script), "\n")[1:] {
		if !strings.HasPrefix(line, "#") {
			break
		}
		b.WriteString(line + "\n")
	}
	require.NotEmpty(t, b.String())
	return b.String()
}

// Every flag the header advertises is one the parser accepts, and every
// environment variable it names is one --help lists.
func TestHeaderMatchesParser(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	h := header(t)
	help := sh.Run(t, nil, "--help")
	require.Equal(t, 0, help.Code, help.Stderr)
	flags := regexp.MustCompile(`--[a-z][a-z-]*`).FindAllString(h, -1)
	require.NotEmpty(t, flags)
	for _, f := range flags {
		if f == "--help" {
			continue
		}
		// --flag=x sets it; --help then ends the run with 0, before any
		// value is checked. An unknown flag exits 2.
		r := sh.Run(t, nil, f+"=x", "--help")
		assert.Equal(t, 0, r.Code, "the header advertises %s, the parser refuses it: %s", f, r.Stderr)
		assert.True(t, strings.Contains(help.Stdout, f), "--help does not list %s", f)
	}
	for _, v := range regexp.MustCompile(`FECDEPLOY_[A-Z_]+`).FindAllString(h, -1) {
		assert.True(t, strings.Contains(help.Stdout, v), "the header names %s, --help does not", v)
	}
	for _, p := range regexp.MustCompile(`fecdeploy\.[a-z<>_]+=`).FindAllString(h, -1) {
		assert.Contains(t, []string{"fecdeploy.url=", "fecdeploy.fec=", "fecdeploy.report="}, p, "the script reads only fecdeploy.url=, fecdeploy.fec= and fecdeploy.report= from the kernel command line")
	}
}

// --help has examples, and each example's flags are ones the parser accepts.
func TestHelpExamples(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	help := sh.Run(t, nil, "--help")
	require.Equal(t, 0, help.Code, help.Stderr)
	_, ex, ok := strings.Cut(help.Stdout, "Examples:\n")
	require.True(t, ok, "no Examples section:\n%s", help.Stdout)
	ex, _, _ = strings.Cut(ex, "\n\n")
	n := 0
	for _, line := range strings.Split(ex, "\n") {
		// the command, then (after 3 or more spaces) its description
		f := strings.Fields(regexp.MustCompile(`\s{3,}`).Split(strings.TrimSpace(line), 2)[0])
		var env []string
		for len(f) > 0 && strings.Contains(f[0], "=") {
			env, f = append(env, f[0]), f[1:]
		}
		if len(f) == 0 || f[0] != "fec-boot.sh" {
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
		if len(args) > 0 && args[0] == "install" { // flags go before the kinds
			args = append([]string{"install", "--help"}, args[1:]...)
		} else {
			args = append(args, "--help")
		}
		r := sh.Run(t, env, args...)
		assert.Equal(t, 0, r.Code, "example %q: %s", line, r.Stderr)
	}
	assert.GreaterOrEqual(t, n, 3, "examples in --help")
}
