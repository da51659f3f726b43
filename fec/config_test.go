package fec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadConfigPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "fecdeploy.conf")
	require.NoError(t, os.WriteFile(conf, []byte(`# a FEC's own settings
url = http://conf.example/storage
fec=conf-fec
root=/conf-root
allowed_roots=opt, usr/local
parallel=2
script_timeout=90
`), 0o644))
	cmdline := filepath.Join(dir, "cmdline")
	require.NoError(t, os.WriteFile(cmdline, []byte("BOOT_IMAGE=/vmlinuz root=/dev/nfs quiet fecdeploy.url=http://cmdline.example/s fecdeploy.fec=\"cmd-fec\" other.fec=no\n"), 0o644))
	env := map[string]string{"FECDEPLOY_FEC": "env-fec", "FECDEPLOY_PARALLEL": "3", "FECDEPLOY_ROOT": "/env-root"}
	getenv := func(k string) string { return env[k] }

	// values (a command's flags) > environment > kernel command line > file > defaults
	cfg, err := ReadConfig(Sources{Values: map[string]string{"root": "/flag-root", "dry_run": "true"},
		Getenv: getenv, ConfPath: conf, CmdlinePath: cmdline})
	require.NoError(t, err)
	assert.Equal(t, "http://cmdline.example/s", cfg.BaseURL)
	assert.Equal(t, "env-fec", cfg.FEC)
	assert.Equal(t, "/flag-root", cfg.Root)
	assert.Equal(t, 3, cfg.Parallel)
	assert.Equal(t, []string{"opt", "usr/local"}, cfg.AllowedRoots)
	assert.Equal(t, 90*time.Second, cfg.ScriptTimeout)
	assert.True(t, cfg.DryRun)
	assert.Equal(t, 5*time.Second, cfg.StartJitter)
	assert.Equal(t, conf, cfg.ConfPath)
	assert.Equal(t, cmdline, cfg.CmdlinePath)

	// Without the kernel command line, the file gives url and fec.
	cfg, err = ReadConfig(Sources{ConfPath: conf, CmdlinePath: "none"})
	require.NoError(t, err)
	assert.Equal(t, "http://conf.example/storage", cfg.BaseURL)
	assert.Equal(t, "conf-fec", cfg.FEC)
	assert.Equal(t, "/conf-root", cfg.Root)

	// The environment names the files when the sources do not.
	env = map[string]string{"FECDEPLOY_CONF": conf, "FECDEPLOY_CMDLINE": cmdline}
	cfg, err = ReadConfig(Sources{Getenv: getenv})
	require.NoError(t, err)
	assert.Equal(t, "http://cmdline.example/s", cfg.BaseURL)
	assert.Equal(t, "cmd-fec", cfg.FEC)

	// A file named explicitly (source or environment) must exist.
	_, err = ReadConfig(Sources{ConfPath: filepath.Join(dir, "none.conf"), CmdlinePath: "none", Values: map[string]string{"url": "http://x/"}})
	require.ErrorIs(t, err, ErrConfig, "an explicitly named, missing conf file")
	env = map[string]string{"FECDEPLOY_CONF": filepath.Join(dir, "absent"), "FECDEPLOY_CMDLINE": "none"}
	_, err = ReadConfig(Sources{Getenv: getenv, Values: map[string]string{"url": "http://x/"}})
	require.ErrorIs(t, err, ErrConfig, "FECDEPLOY_CONF naming a missing file")
}

// Neither file nor command line: the defaults, the FEC from the short host
// name. Not parallel: it replaces the host name lookup.
func TestReadConfigDefaults(t *testing.T) {
	defer func(h func() (string, error)) { hostname = h }(hostname)
	hostname = func() (string, error) { return "fec07.acc.example.org", nil }
	cfg, err := ReadConfig(Sources{ConfPath: os.DevNull, CmdlinePath: "none", Values: map[string]string{"url": "http://x/", "start_jitter": "0"}})
	require.NoError(t, err)
	d, _, err := cfg.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "fec07", d.FEC)
	assert.Equal(t, "/", d.Root)
	assert.Equal(t, "/var/lib/fecdeploy", d.StateDir)
	assert.Equal(t, "/var/lib/fecdeploy/status.json", d.StatusFile)
	assert.Equal(t, []string{"opt"}, d.AllowedRoots)
	assert.Equal(t, 4, d.Parallel)
	assert.Zero(t, d.StartJitter)
	assert.Equal(t, "http://x", d.BaseURL)
}

func TestReadConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := 0
	write := func(s string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.conf", n))
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	key := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(key, []byte("not a key"), 0o644))
	for _, tc := range []struct {
		name string
		conf string
		vals map[string]string
		want string
	}{
		{"unknown conf key", write("urll=http://x\n"), nil, `unknown key "urll"`},
		{"not key=value", write("url\n"), nil, "is not key=value"},
		{"bad duration", os.DevNull, map[string]string{"deadline": "soon"}, `deadline="soon" is not a duration`},
		{"bad number", os.DevNull, map[string]string{"parallel": "many"}, `parallel="many" is not a whole number`},
		{"bad bool", write("dry_run=maybe\n"), nil, "not a boolean"},
		{"bad key file", os.DevNull, map[string]string{"public_keys": key}, "no PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadConfig(Sources{ConfPath: tc.conf, CmdlinePath: "none", Values: tc.vals})
			require.ErrorIs(t, err, ErrConfig)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// Every setting can be given in the file, the environment and by value.
func TestSettingsTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range Settings() {
		assert.NotEmpty(t, s.Key)
		assert.Equal(t, "FECDEPLOY_"+strings.ToUpper(s.Key), s.Env)
		assert.Equal(t, strings.ReplaceAll(s.Key, "_", "-"), s.Flag)
		assert.NotEmpty(t, s.Doc)
		assert.False(t, seen[s.Key], "key %s twice", s.Key)
		seen[s.Key] = true
	}
	Settings()[0].Key = "changed"
	assert.Equal(t, "url", Settings()[0].Key, "Settings returns a copy")
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{FEC: "f"}, "no base URL"},
		{"ftp url", Config{BaseURL: "ftp://x/", FEC: "f"}, "not an http"},
		{"bad fec", Config{BaseURL: "http://x", FEC: "../etc"}, "FEC name"},
		{"global", Config{BaseURL: "http://x", FEC: "global"}, "global"},
		{"escaping root", Config{BaseURL: "http://x", FEC: "f", AllowedRoots: []string{"../etc"}}, "allowed root"},
		{"kind init", Config{BaseURL: "http://x", FEC: "f", Kinds: []index.Kind{"init"}}, "cannot be installed"},
		{"unknown kind", Config{BaseURL: "http://x", FEC: "f", Kinds: []index.Kind{"firmware"}}, "cannot be installed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.cfg.withDefaults()
			require.ErrorIs(t, err, ErrConfig)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestParseCmdline(t *testing.T) {
	t.Parallel()
	got := parseCmdline(`ro fecdeploy.url="http://a b" fecdeploy.fec=fec01 fecdeploy.x` + "\n")
	assert.Equal(t, map[string]string{"fecdeploy.url": "http://a b", "fecdeploy.fec": "fec01", "fecdeploy.x": ""}, got)
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{ErrConfig, 2},
		{ErrUnreachable, 3},
		{ErrVerify, 4},
		{ErrInstall, 5},
		{ErrScript, 6},
		{errors.New("other"), 5},
		// The most severe (lowest) wins.
		{errors.Join(ErrScript, ErrInstall), 5},
		{errors.Join(ErrScript, ErrInstall, ErrVerify), 4},
	} {
		assert.Equal(t, tc.want, ExitCode(tc.err), "ExitCode(%v)", tc.err)
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Foo_DU": "FOO_DU", "bar-du.x": "BAR_DU_X", "a1": "A1"} {
		assert.Equal(t, want, EnvName(in), "EnvName(%q)", in)
	}
}

// Boot and Install leave the caller's Config alone: the allowed roots they
// clean up (slashes trimmed) are their own copy.
func TestBootDoesNotChangeCallersConfig(t *testing.T) {
	t.Parallel()
	roots := []string{"/opt/", "srv/fesa/"}
	kinds := []index.Kind{index.KindSoftware}
	cfg := Config{BaseURL: "http://127.0.0.1:1", FEC: "fec01", Root: t.TempDir(), AllowedRoots: roots, Kinds: kinds,
		Retries: -1, Deadline: 100 * time.Millisecond, RetryWaitMax: time.Millisecond}
	_, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrUnreachable)
	_, err = Install(context.Background(), cfg, index.KindData)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Equal(t, []string{"/opt/", "srv/fesa/"}, roots)
	assert.Equal(t, []string{"/opt/", "srv/fesa/"}, cfg.AllowedRoots)
	assert.Equal(t, []index.Kind{index.KindSoftware}, kinds)
}
