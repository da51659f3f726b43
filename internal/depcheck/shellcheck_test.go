package depcheck

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `make test` runs scripts/shellcheck.sh, and the script checks every shell
// file of the repository (found here independently) and finds nothing.
func TestShellcheckEveryShellFile(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "shellcheck")
	git := testenv.RequireTool(t, "git")
	root, err := filepath.Abs("../..")
	require.NoError(t, err)

	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	testLine := regexp.MustCompile(`(?m)^test:(.*)$`).FindSubmatch(mk)
	require.NotNil(t, testLine, "Makefile has no test target")
	assert.Contains(t, strings.Fields(string(testLine[1])), "shellcheck", "make test does not run shellcheck")
	assert.Regexp(t, `(?m)^shellcheck:\n\t\./scripts/shellcheck\.sh`, string(mk))

	out, err := exec.Command(git, "-C", root, "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	want := 0
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasSuffix(f, ".md") {
			continue
		}
		if strings.HasSuffix(f, ".sh") || strings.HasSuffix(f, ".init") || shebangShell(filepath.Join(root, f)) {
			want++
		}
	}
	cmd := exec.Command(filepath.Join(root, "scripts/shellcheck.sh"))
	res, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/shellcheck.sh:\n%s", res)
	m := regexp.MustCompile(`shellcheck: (\d+) files clean`).FindSubmatch(res)
	require.NotNil(t, m, "%s", res)
	n, _ := strconv.Atoi(string(m[1]))
	assert.Equal(t, want, n, "shell files checked")
}

func shebangShell(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	for _, p := range []string{"#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env sh", "#!/usr/bin/env bash"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}
