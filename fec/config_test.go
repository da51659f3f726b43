package fec

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "fecdeploy.conf")
	os.WriteFile(conf, []byte(`# a FEC's own settings
url = http://conf.example/storage
fec=conf-fec
root=/conf-root
allowed_roots=opt, usr/local
parallel=2
script_timeout=90
`), 0o644)
	cmdline := filepath.Join(dir, "cmdline")
	os.WriteFile(cmdline, []byte("BOOT_IMAGE=/vmlinuz root=/dev/nfs quiet fecdeploy.url=http://cmdline.example/s fecdeploy.fec=\"cmd-fec\" other.fec=no\n"), 0o644)
	env := map[string]string{"FECDEPLOY_FEC": "env-fec", "FECDEPLOY_PARALLEL": "3", "FECDEPLOY_ROOT": "/env-root"}
	getenv := func(k string) string { return env[k] }

	cfg, rest, err := LoadConfig([]string{"--conf", conf, "--cmdline", cmdline, "--root", "/flag-root", "--dry-run", "software"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{"url": cfg.BaseURL, "fec": cfg.FEC, "root": cfg.Root, "parallel": cfg.Parallel,
		"allowed": cfg.AllowedRoots, "script": cfg.ScriptTimeout, "dry": cfg.DryRun, "rest": rest, "jitter": cfg.StartJitter}
	want := map[string]any{"url": "http://cmdline.example/s", "fec": "env-fec", "root": "/flag-root", "parallel": 3,
		"allowed": []string{"opt", "usr/local"}, "script": 90 * time.Second, "dry": true, "rest": []string{"software"}, "jitter": 5 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}

	// Without the kernel command line, the file gives url and fec.
	cfg, _, err = LoadConfig([]string{"--conf", conf, "--cmdline", "none"}, nil)
	if err != nil || cfg.BaseURL != "http://conf.example/storage" || cfg.FEC != "conf-fec" || cfg.Root != "/conf-root" {
		t.Fatalf("conf only: %+v %v", cfg, err)
	}
	// Neither: defaults, FEC from the short host name.
	defer func(h func() (string, error)) { hostname = h }(hostname)
	hostname = func() (string, error) { return "fec07.acc.example.org", nil }
	cfg, _, err = LoadConfig([]string{"--conf", filepath.Join(dir, "none.conf"), "--cmdline", "none", "--url", "http://x/"}, nil)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("an explicitly named, missing conf file: err = %v, want ErrConfig", err)
	}
	env = map[string]string{"FECDEPLOY_CONF": filepath.Join(dir, "absent"), "FECDEPLOY_CMDLINE": "none"}
	_, _, err = LoadConfig([]string{"--url", "http://x/"}, getenv)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("FECDEPLOY_CONF naming a missing file: err = %v, want ErrConfig", err)
	}
	cfg, _, err = LoadConfig([]string{"--conf", os.DevNull, "--cmdline", "none", "--url", "http://x/", "--start-jitter", "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if d.FEC != "fec07" || d.Root != "/" || d.StateDir != "/var/lib/fecdeploy" || d.StatusFile != "/var/lib/fecdeploy/status.json" ||
		!reflect.DeepEqual(d.AllowedRoots, []string{"opt"}) || d.Parallel != 4 || d.StartJitter != 0 || d.BaseURL != "http://x" {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	n := 0
	write := func(s string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.conf", n))
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	key := filepath.Join(dir, "key.pem")
	os.WriteFile(key, []byte("not a key"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown conf key", []string{"--conf", write("urll=http://x\n")}, `unknown key "urll"`},
		{"not key=value", []string{"--conf", write("url\n")}, "is not key=value"},
		{"bad duration", []string{"--deadline", "soon"}, `deadline="soon" is not a duration`},
		{"bad number", []string{"--parallel", "many"}, `parallel="many" is not a whole number`},
		{"bad bool", []string{"--conf", write("dry_run=maybe\n")}, "not a boolean"},
		{"bad key file", []string{"--public-keys", key}, "no PEM"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--cmdline", "none", "--conf", os.DevNull}, tc.args...)
			_, _, err := LoadConfig(args, nil)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
	if _, _, err := LoadConfig([]string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
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
			_, err := tc.cfg.withDefaults()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	got := parseCmdline(`ro fecdeploy.url="http://a b" fecdeploy.fec=fec01 fecdeploy.x` + "\n")
	want := map[string]string{"fecdeploy.url": "http://a b", "fecdeploy.fec": "fec01", "fecdeploy.x": ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestExitCode(t *testing.T) {
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
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"Foo_DU": "FOO_DU", "bar-du.x": "BAR_DU_X", "a1": "A1"} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}
