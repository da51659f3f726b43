package client_test

import (
	"archive/tar"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
)

type status struct {
	FEC      string `json:"fec"`
	ExitCode int    `json:"exit_code"`
	Entries  []struct {
		Kind, Name, Version, SHA256, Action, Error string
	} `json:"entries"`
	Scripts []struct {
		Name     string   `json:"name"`
		Action   string   `json:"action"`
		ExitCode int      `json:"exit_code"`
		Output   []string `json:"output"`
	} `json:"scripts"`
}

func readStatus(t *testing.T, root string) status {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "var/lib/fecdeploy/status.json"))
	if err != nil {
		t.Fatalf("status file: %v", err)
	}
	var s status
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("status file is not JSON: %v\n%s", err, b)
	}
	return s
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func env(url, root string, extra ...string) []string {
	return append([]string{"FECDEPLOY_URL=" + url, "FECDEPLOY_FEC=fec01", "FECDEPLOY_ROOT=" + root,
		"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null",
		"FECDEPLOY_RETRIES=0", "FECDEPLOY_START_JITTER=0"}, extra...)
}

const envScript = `#!/bin/sh
echo "fec=$FECDEPLOY_FEC sw=$FECDEPLOY_SOFTWARE dev=$FECDEPLOY_DEV_SOFTWARE foo=$FECDEPLOY_SW_FOO_DU_VERSION/$FECDEPLOY_SW_FOO_DU_DEV bar=$FECDEPLOY_SW_BAR_DU_VERSION/$FECDEPLOY_SW_BAR_DU_DEV"
echo "$FECDEPLOY_FEC" > "$FECDEPLOY_ROOT/opt/ran-by-script"
`

func TestBootInstallsAndRunsScripts(t *testing.T) {
	for _, variant := range []string{"wget", "curl"} {
		t.Run(variant, func(t *testing.T) {
			var extra []string
			if variant == "curl" {
				extra = []string{"curl"}
			}
			sh := clienttest.NewShell(t, extra...)
			st := clienttest.NewStorage(t)
			st.Software(t, "fec01", "Foo_DU", "1.2.0", clienttest.Tree("opt/fesa/Foo_DU/1.2.0",
				map[string]string{"bin/Foo_DU": "ELF foo", "etc/instance.xml": "<xml/>"}))
			st.Software(t, "fec01", "Bar-DU", "dev", clienttest.Tree("opt/fesa/Bar-DU/dev",
				map[string]string{"bin/Bar-DU": "ELF bar"}))
			st.Init(t, "fec01", "10-env", envScript)
			st.Init(t, "fec01", "20-fail", "#!/bin/sh\necho broken >&2\nexit 3\n")
			st.WriteIndex(t, "fec01", nil)
			ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
			root := t.TempDir()

			r := sh.Run(t, env(ng.URL, root))
			if r.Code != 6 {
				t.Fatalf("exit %d, want 6 (a script failed)\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			t.Logf("output:\n%s%s", r.Stdout, r.Stderr)
			if got := readFile(t, filepath.Join(root, "opt/fesa/Foo_DU/1.2.0/bin/Foo_DU")); got != "ELF foo" {
				t.Errorf("Foo_DU binary = %q", got)
			}
			if fi, err := os.Stat(filepath.Join(root, "opt/fesa/Foo_DU/1.2.0/bin/Foo_DU")); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("Foo_DU binary mode: %v %v", fi.Mode(), err)
			}
			want := "[10-env] fec=fec01 sw=Bar-DU Foo_DU dev=Bar-DU foo=1.2.0/0 bar=dev/1\n"
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("script output %q, want %q", r.Stdout, want)
			}
			if !strings.Contains(r.Stdout, "[20-fail] broken\n") {
				t.Errorf("failing script output not prefixed: %q", r.Stdout)
			}
			if got := readFile(t, filepath.Join(root, "opt/ran-by-script")); got != "fec01\n" {
				t.Errorf("script wrote %q", got)
			}
			s := readStatus(t, root)
			if s.ExitCode != 6 || s.FEC != "fec01" || len(s.Entries) != 2 || len(s.Scripts) != 2 ||
				s.Scripts[0].ExitCode != 0 || s.Scripts[0].Action != "ran" ||
				s.Scripts[1].ExitCode != 3 || s.Scripts[1].Action != "failed" || len(s.Scripts[1].Output) != 1 {
				t.Errorf("status: %+v", s)
			}
			for _, e := range s.Entries {
				if e.Action != "installed" {
					t.Errorf("entry %s %s: action %q", e.Kind, e.Name, e.Action)
				}
			}
			// Second run: everything unchanged.
			r = sh.Run(t, env(ng.URL, root))
			if r.Code != 6 {
				t.Fatalf("second run: exit %d\n%s", r.Code, r.Stderr)
			}
			for _, e := range readStatus(t, root).Entries {
				if e.Action != "skipped" {
					t.Errorf("second run: entry %s %s: action %q", e.Kind, e.Name, e.Action)
				}
			}
			if strings.Contains(ng.AccessLog(), ".tar.gz HTTP/1.1\" 200") && strings.Count(ng.AccessLog(), ".tar.gz") != 2 {
				t.Errorf("archives downloaded again on the second run:\n%s", ng.AccessLog())
			}
		})
	}
}

var _ = tar.TypeReg

func TestCredentialsStayOutOfStatusAndScripts(t *testing.T) {
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	st.Init(t, "fec01", "10-url", "#!/bin/sh\necho \"url=$FECDEPLOY_URL\"\n")
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	u := strings.Replace(ng.URL, "http://", "http://user:secret@", 1) + "/?token=abc"
	r := sh.Run(t, env(u, root))
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "[10-url] url="+ng.URL+"\n") {
		t.Errorf("script saw %q, want the URL without credentials and query", r.Stdout)
	}
	if !strings.Contains(ng.AccessLog(), "/fecs/fec01/INDEX?token=abc") {
		t.Errorf("the query was not sent with the INDEX request:\n%s", ng.AccessLog())
	}
	status := readFile(t, filepath.Join(root, "var/lib/fecdeploy/status.json"))
	if strings.Contains(status, "secret") || strings.Contains(status, "abc") || !strings.Contains(status, "REDACTED") {
		t.Errorf("status file leaks or does not redact the credentials:\n%s", status)
	}
}

func TestScriptTimeoutKillsProcessGroup(t *testing.T) {
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.Init(t, "fec01", "10-hang", "#!/bin/sh\nsleep 60 &\necho $! > \"$FECDEPLOY_ROOT/daemon.pid\"\necho waiting\nsleep 60\n")
	st.Init(t, "fec01", "20-daemon", "#!/bin/sh\nsleep 60 &\necho $! > \"$FECDEPLOY_ROOT/daemon2.pid\"\necho started\n")
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	start := time.Now()
	r := sh.Run(t, env(ng.URL, root, "FECDEPLOY_SCRIPT_TIMEOUT=1"))
	if r.Code != 6 || time.Since(start) > 15*time.Second {
		t.Fatalf("exit %d after %v, want 6 soon after the 1s timeout\n%s%s", r.Code, time.Since(start), r.Stdout, r.Stderr)
	}
	s := readStatus(t, root)
	if len(s.Scripts) != 2 || s.Scripts[0].ExitCode != 124 || s.Scripts[1].Action != "ran" ||
		!strings.Contains(r.Stdout, "[10-hang] waiting\n") || !strings.Contains(r.Stdout, "[20-daemon] started\n") {
		t.Errorf("status %+v\n%s", s.Scripts, r.Stdout)
	}
	alive := func(pidFile string) bool {
		pid := strings.TrimSpace(readFile(t, filepath.Join(root, pidFile)))
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		return err == nil && !strings.Contains(string(b), ") Z ")
	}
	if alive("daemon.pid") {
		t.Error("the hung script's background process survived the timeout")
	}
	if !alive("daemon2.pid") {
		t.Error("the daemon of a script that exited 0 was killed")
	} else {
		pid := strings.TrimSpace(readFile(t, filepath.Join(root, "daemon2.pid")))
		exec.Command("kill", pid).Run()
	}
}

func TestInstallDryRunForce(t *testing.T) {
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	st.Put(t, "fec01", index.Entry{Kind: index.KindConfiguration, Name: "C", Format: "gzip", Path: "configuration/C/1/c.tar.gz"},
		clienttest.TarGz(t, clienttest.Tree("opt/c", map[string]string{"f": "c"})))
	st.Init(t, "fec01", "10-x", "#!/bin/sh\ntouch \"$FECDEPLOY_ROOT/opt/script-ran\"\n")
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()

	// A dry run writes nothing at all and says what it would do.
	r := sh.Run(t, env(ng.URL, root, "TMPDIR="+t.TempDir()), "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "dry-run   software      A 1.0.0") {
		t.Fatalf("dry run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if des, _ := os.ReadDir(root); len(des) != 0 {
		t.Errorf("a dry run wrote %v under the root", des)
	}
	// install KIND: only that kind, no scripts, no status file.
	r = sh.Run(t, env(ng.URL, root), "install", "configuration")
	if r.Code != 0 {
		t.Fatalf("install: exit %d\n%s", r.Code, r.Stderr)
	}
	for p, want := range map[string]bool{"opt/c/f": true, "opt/a/f": false, "opt/script-ran": false, "var/lib/fecdeploy/status.json": false} {
		if _, err := os.Stat(filepath.Join(root, p)); (err == nil) != want {
			t.Errorf("after install configuration: %s exists=%v, want %v", p, err == nil, want)
		}
	}
	// install with an init kind is a usage error
	if r = sh.Run(t, env(ng.URL, root), "install", "init"); r.Code != 2 {
		t.Errorf("install init: exit %d, want 2", r.Code)
	}
	// --force reinstalls what the state says is installed
	os.Remove(filepath.Join(root, "opt/c/f"))
	r = sh.Run(t, env(ng.URL, root), "--force")
	if r.Code != 0 || readFile(t, filepath.Join(root, "opt/c/f")) != "c" {
		t.Fatalf("--force: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, e := range readStatus(t, root).Entries {
		if e.Action != "installed" {
			t.Errorf("--force: %s %s %s", e.Kind, e.Name, e.Action)
		}
	}
}
