package client_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	var s status
	b := testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/status.json"))
	require.NoError(t, json.Unmarshal([]byte(b), &s), "status file is not JSON:\n%s", b)
	return s
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
	t.Parallel()
	for _, variant := range []string{"wget", "curl"} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
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
			require.Equal(t, 6, r.Code, "a script failed\n%s%s", r.Stdout, r.Stderr)
			t.Logf("output:\n%s%s", r.Stdout, r.Stderr)
			bin := filepath.Join(root, "opt/fesa/Foo_DU/1.2.0/bin/Foo_DU")
			assert.Equal(t, "ELF foo", testkit.ReadFile(t, bin))
			if fi, err := os.Stat(bin); assert.NoError(t, err) {
				assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
			}
			assert.Contains(t, r.Stdout, "[10-env] fec=fec01 sw=Bar-DU Foo_DU dev=Bar-DU foo=1.2.0/0 bar=dev/1\n")
			assert.Contains(t, r.Stdout, "[20-fail] broken\n", "failing script output is prefixed")
			assert.Equal(t, "fec01\n", testkit.ReadFile(t, filepath.Join(root, "opt/ran-by-script")))
			s := readStatus(t, root)
			assert.Equal(t, 6, s.ExitCode)
			assert.Equal(t, "fec01", s.FEC)
			assert.Len(t, s.Entries, 2)
			if assert.Len(t, s.Scripts, 2) {
				assert.Equal(t, 0, s.Scripts[0].ExitCode)
				assert.Equal(t, "ran", s.Scripts[0].Action)
				assert.Equal(t, 3, s.Scripts[1].ExitCode)
				assert.Equal(t, "failed", s.Scripts[1].Action)
				assert.Len(t, s.Scripts[1].Output, 1)
			}
			for _, e := range s.Entries {
				assert.Equal(t, "installed", e.Action, "entry %s %s", e.Kind, e.Name)
			}
			// Second run: everything unchanged.
			r = sh.Run(t, env(ng.URL, root))
			require.Equal(t, 6, r.Code, "second run\n%s", r.Stderr)
			for _, e := range readStatus(t, root).Entries {
				assert.Equal(t, "skipped", e.Action, "second run: entry %s %s", e.Kind, e.Name)
			}
			assert.Equal(t, 2, strings.Count(ng.AccessLog(), ".tar.gz"), "archives downloaded again on the second run:\n%s", ng.AccessLog())
		})
	}
}

func TestCredentialsStayOutOfStatusAndScripts(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "curl") // busybox wget is not given a user and password
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	st.Init(t, "fec01", "10-url", "#!/bin/sh\necho \"url=$FECDEPLOY_URL\"\n")
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	u := strings.Replace(ng.URL, "http://", "http://user:secret@", 1) + "/?token=abc"
	r := sh.Run(t, env(u, root))
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "[10-url] url="+ng.URL+"\n", "the script sees the URL without credentials and query")
	assert.Contains(t, ng.AccessLog(), "/fecs/fec01/INDEX?token=abc", "the query is sent with the INDEX request")
	status := testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/status.json"))
	assert.NotContains(t, status, "secret")
	assert.NotContains(t, status, "abc")
	assert.Contains(t, status, "REDACTED")
}

func TestScriptTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	// sleep 300: a watchdog that misses the script shows as a boot of 300 s,
	// far beyond the bound below, which leaves room for a loaded machine.
	st.Init(t, "fec01", "10-hang", "#!/bin/sh\nsleep 300 &\necho $! > \"$FECDEPLOY_ROOT/daemon.pid\"\necho waiting\nsleep 300\n")
	st.Init(t, "fec01", "20-daemon", "#!/bin/sh\nsleep 60 &\necho $! > \"$FECDEPLOY_ROOT/daemon2.pid\"\necho started\n")
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	start := time.Now()
	r := sh.Run(t, env(ng.URL, root, "FECDEPLOY_SCRIPT_TIMEOUT=1"))
	require.Equal(t, 6, r.Code, "%s%s", r.Stdout, r.Stderr)
	assert.Less(t, time.Since(start), 120*time.Second, "the hanging script is killed after the 1s timeout, not waited for")
	s := readStatus(t, root)
	if assert.Len(t, s.Scripts, 2) {
		assert.Equal(t, 124, s.Scripts[0].ExitCode)
		assert.Equal(t, "ran", s.Scripts[1].Action)
	}
	assert.Contains(t, r.Stdout, "[10-hang] waiting\n")
	assert.Contains(t, r.Stdout, "[20-daemon] started\n")
	alive := func(pidFile string) bool {
		pid := strings.TrimSpace(testkit.ReadFile(t, filepath.Join(root, pidFile)))
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		return err == nil && !strings.Contains(string(b), ") Z ")
	}
	assert.False(t, alive("daemon.pid"), "the hung script's background process survived the timeout")
	if assert.True(t, alive("daemon2.pid"), "the daemon of a script that exited 0 was killed") {
		pid, err := strconv.Atoi(strings.TrimSpace(testkit.ReadFile(t, filepath.Join(root, "daemon2.pid"))))
		require.NoError(t, err)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func TestInstallDryRunForce(t *testing.T) {
	t.Parallel()
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
	require.Equal(t, 0, r.Code, "dry run\n%s%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stdout, "dry-run   software      A 1.0.0")
	assert.Empty(t, testkit.Paths(t, root), "a dry run writes nothing under the root")
	// install KIND: only that kind, no scripts, no status file.
	r = sh.Run(t, env(ng.URL, root), "install", "configuration")
	require.Equal(t, 0, r.Code, "install\n%s", r.Stderr)
	assert.FileExists(t, filepath.Join(root, "opt/c/f"))
	for _, p := range []string{"opt/a/f", "opt/script-ran", "var/lib/fecdeploy/status.json"} {
		assert.NoFileExists(t, filepath.Join(root, p), "after install configuration")
	}
	// install with an init kind is a usage error, and changes nothing
	before := testkit.Snapshot(t, root)
	r = sh.Run(t, env(ng.URL, root), "install", "init")
	assert.Equal(t, 2, r.Code, "install init")
	assert.Equal(t, before, testkit.Snapshot(t, root))
	// --force reinstalls what the state says is installed
	require.NoError(t, os.Remove(filepath.Join(root, "opt/c/f")))
	r = sh.Run(t, env(ng.URL, root), "--force")
	require.Equal(t, 0, r.Code, "--force\n%s", r.Stderr)
	assert.Equal(t, "c", testkit.ReadFile(t, filepath.Join(root, "opt/c/f")))
	for _, e := range readStatus(t, root).Entries {
		assert.Equal(t, "installed", e.Action, "--force: %s %s", e.Kind, e.Name)
	}
}
