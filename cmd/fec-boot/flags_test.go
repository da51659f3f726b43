package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/fec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Flags beat the environment, which beats the kernel command line, which
// beats the configuration file; the arguments after the flags are returned.
func TestLoadConfigPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "fecdeploy.conf")
	require.NoError(t, os.WriteFile(conf, []byte("url=http://conf.example/s\nfec=conf-fec\nroot=/conf-root\nparallel=2\nscript_timeout=90\n"), 0o644))
	cmdline := filepath.Join(dir, "cmdline")
	require.NoError(t, os.WriteFile(cmdline, []byte("quiet fecdeploy.url=http://cmdline.example/s fecdeploy.fec=cmd-fec\n"), 0o644))
	env := map[string]string{"FECDEPLOY_FEC": "env-fec", "FECDEPLOY_PARALLEL": "3", "FECDEPLOY_ROOT": "/env-root", "FECDEPLOY_FORCE": "1"}

	cfg, rest, err := loadConfig([]string{"--conf", conf, "--cmdline", cmdline, "--root", "/flag-root", "--dry-run",
		"--force=false", "-allowed-roots", "opt,srv", "software"}, func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "http://cmdline.example/s", cfg.BaseURL)
	assert.Equal(t, "env-fec", cfg.FEC)
	assert.Equal(t, "/flag-root", cfg.Root)
	assert.Equal(t, 3, cfg.Parallel)
	assert.Equal(t, 90*time.Second, cfg.ScriptTimeout)
	assert.Equal(t, []string{"opt", "srv"}, cfg.AllowedRoots)
	assert.True(t, cfg.DryRun)
	assert.False(t, cfg.Force, "--force=false beats FECDEPLOY_FORCE=1")
	assert.Equal(t, 5*time.Second, cfg.StartJitter)
	assert.Equal(t, []string{"software"}, rest)
	assert.Equal(t, conf, cfg.ConfPath)
	assert.Equal(t, cmdline, cfg.CmdlinePath)
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	_, _, err := loadConfig([]string{"-h"}, nil)
	require.ErrorIs(t, err, flag.ErrHelp)
	_, _, err = loadConfig([]string{"--nope"}, nil)
	require.ErrorIs(t, err, fec.ErrConfig)
	assert.ErrorContains(t, err, "flag provided but not defined")
	_, _, err = loadConfig([]string{"--cmdline", "none", "--conf", os.DevNull, "--deadline", "soon"}, nil)
	require.ErrorIs(t, err, fec.ErrConfig)
	assert.ErrorContains(t, err, `deadline="soon" is not a duration`)
}

// Every setting has its flag, and the help text names its other sources.
func TestFlagUsage(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	flagUsage(&b)
	for _, s := range fec.Settings() {
		assert.Contains(t, b.String(), "--"+s.Flag)
		assert.Contains(t, b.String(), s.Env)
		assert.Contains(t, b.String(), s.Key+"=]")
	}
}
