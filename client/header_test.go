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
