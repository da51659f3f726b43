// Package yocto holds the Yocto recipes of both boot clients; this test checks
// that their start-up files call the installed binaries with valid options.
package yocto

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
)

// unit parses a systemd unit into section -> key -> values.
func unit(t *testing.T, p string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	sec := ""
	sc := bufio.NewScanner(strings.NewReader(testkit.ReadFile(t, p)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			out[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok && sec != "", "%s:%d: not key=value inside a section: %q", p, n, line)
			out[sec][k] = append(out[sec][k], v)
		}
	}
	return out
}

var fecBootOnce struct {
	sync.Once
	path string
	err  error
	out  []byte
}

// fecBoot builds cmd/fec-boot once for the package's tests: its flags are
// parsed by the command, not by the fec library.
func fecBoot(t *testing.T) string {
	t.Helper()
	goTool := testenv.RequireTool(t, "go")
	fecBootOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fec-boot-")
		if err != nil {
			fecBootOnce.err = err
			return
		}
		fecBootOnce.path = filepath.Join(dir, "fec-boot")
		fecBootOnce.out, fecBootOnce.err = exec.Command(goTool, "build", "-o", fecBootOnce.path, "../../cmd/fec-boot").CombinedOutput()
	})
	if fecBootOnce.err != nil {
		t.Fatalf("building fec-boot: %v\n%s", fecBootOnce.err, fecBootOnce.out)
	}
	return fecBootOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fecBootOnce.path != "" {
		os.RemoveAll(filepath.Dir(fecBootOnce.path))
	}
	os.Exit(code)
}

// checkArgs validates the arguments after the binary the way each client parses them.
func checkArgs(t *testing.T, where, bin string, args []string) {
	t.Helper()
	switch bin {
	case "/usr/bin/fec-boot":
		if len(args) > 0 && (args[0] == "boot" || args[0] == "install") {
			args = args[1:]
		}
		cmd := exec.Command(fecBoot(t), append(args, "--help")...)
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s: fec-boot %v --help: %s", where, args, out)
		assert.Contains(t, string(out), "Usage:", "%s: fec-boot %v --help", where, args)
	case "/usr/sbin/fec-boot.sh":
		bb, dir := testenv.BusyboxPath(t)
		cmd := exec.Command(bb, append([]string{"sh", "../../client/fec-boot.sh"}, append(args, "--help")...)...)
		cmd.Env = []string{"PATH=" + dir}
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s: fec-boot.sh %v --help:\n%s", where, args, out)
		assert.Contains(t, string(out), "Usage:", "%s: fec-boot.sh %v --help", where, args)
	default:
		assert.Fail(t, "a binary no recipe installs", "%s: calls %s", where, bin)
	}
}

var recipes = []struct{ recipe, init, service, bin, installLine string }{
	{"fecdeploy-shell_1.0.bb", "files/fecdeploy-shell.init", "files/fecdeploy-shell.service", "/usr/sbin/fec-boot.sh",
		"install -m 0755 ${S}/client/fec-boot.sh ${D}${sbindir}/fec-boot.sh"},
	{"fecdeploy-go_git.bb", "files/fecdeploy-go.init", "files/fecdeploy-go.service", "/usr/bin/fec-boot",
		"GO_INSTALL = \"${GO_IMPORT}/cmd/fec-boot\""},
	{"fecdeploy-go-bin_1.0.bb", "files/fecdeploy-go.init", "files/fecdeploy-go.service", "/usr/bin/fec-boot",
		"install -m 0755 ${FECDEPLOY_SRC}/${GOARCH_BIN}/fec-boot ${D}${bindir}/fec-boot"},
}

func TestRecipes(t *testing.T) {
	t.Parallel()
	for _, r := range recipes {
		bb := testkit.ReadFile(t, r.recipe)
		assert.Contains(t, bb, r.installLine, "%s installs %s", r.recipe, r.bin)
		for _, f := range []string{r.init, r.service, "files/fecdeploy.conf"} {
			assert.Contains(t, bb, "file://"+filepath.Base(f), "%s fetches %s", r.recipe, f)
		}
		for _, want := range []string{"inherit ", "update-rc.d", "systemd", "INITSCRIPT_NAME = \"fecdeploy\"",
			"SYSTEMD_SERVICE:${PN} = \"fecdeploy.service\"", "${sysconfdir}/init.d/fecdeploy", "${systemd_system_unitdir}/fecdeploy.service"} {
			assert.Contains(t, bb, want, r.recipe)
		}
	}
	assert.Contains(t, testkit.ReadFile(t, "fecdeploy-go_git.bb"), "inherit go-mod")
	assert.Contains(t, testkit.ReadFile(t, "fecdeploy-go-bin_1.0.bb"), "inherit bin_package")
	assert.Contains(t, testkit.ReadFile(t, "fecdeploy-shell_1.0.bb"), "RDEPENDS:${PN} = \"busybox\"", "the shell recipe depends on busybox")
}

func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	for _, r := range recipes {
		u := unit(t, r.service)
		want := map[string]map[string]string{
			"Unit":    {"Wants": "network-online.target", "After": "network-online.target"},
			"Service": {"Type": "oneshot"},
			"Install": {"WantedBy": "multi-user.target"},
		}
		for sec, kv := range want {
			for k, v := range kv {
				assert.Contains(t, strings.Fields(strings.Join(u[sec][k], " ")), v, "%s: [%s] %s", r.service, sec, k)
			}
		}
		assert.NotEmpty(t, u["Unit"]["Before"], "%s: no Before= (it must run before the equipment services)", r.service)
		exec := u["Service"]["ExecStart"]
		require.Len(t, exec, 1, "%s: want one ExecStart", r.service)
		f := strings.Fields(exec[0])
		if f[0] == "/bin/sh" { // the script through the shell
			f = f[1:]
		}
		assert.Equal(t, r.bin, f[0], "%s: ExecStart runs what the recipe installs", r.service)
		checkArgs(t, r.service, f[0], f[1:])
	}
}

var initCall = regexp.MustCompile(`(?m)^\s*(/usr/s?bin/fec-boot(?:\.sh)?)((?: [^;&|\n]*)?)$`)

func TestSysVScripts(t *testing.T) {
	t.Parallel()
	bb, dir := testenv.BusyboxPath(t)
	for _, r := range recipes {
		src := testkit.ReadFile(t, r.init)
		for _, want := range []string{"### BEGIN INIT INFO", "# Provides:          fecdeploy", "$network"} {
			assert.Contains(t, src, want, "%s: LSB header missing or not after $network", r.init)
		}
		cmd := exec.Command(bb, "sh", "-n", r.init)
		cmd.Env = []string{"PATH=" + dir}
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s: syntax:\n%s", r.init, out)
		m := initCall.FindAllStringSubmatch(src, -1)
		require.Len(t, m, 1, "%s: want one call of the client", r.init)
		assert.Equal(t, r.bin, m[0][1], "%s: runs what the recipe installs", r.init)
		checkArgs(t, r.init, m[0][1], strings.Fields(m[0][2]))
	}
}

func TestConfigFileIsValid(t *testing.T) {
	t.Parallel()
	_, err := fec.ReadConfig(fec.Sources{ConfPath: "files/fecdeploy.conf", CmdlinePath: "none"})
	assert.NoError(t, err, "Go client")
	bb, dir := testenv.BusyboxPath(t)
	cmd := exec.Command(bb, "sh", "../../client/fec-boot.sh", "--conf", "files/fecdeploy.conf", "--cmdline", "none",
		"--url", "http://127.0.0.1:1", "--retries", "0", "--deadline", "3", "--start-jitter", "0", "--dry-run", "--root", t.TempDir())
	cmd.Env = []string{"PATH=" + dir}
	out, _ := cmd.CombinedOutput()
	// Gets past the configuration (a storage at port 1 is unreachable: 3).
	assert.Equal(t, 3, cmd.ProcessState.ExitCode(), "shell client with files/fecdeploy.conf:\n%s", out)
}

func TestEmbeddedScriptIsTheRepositoryCopy(t *testing.T) {
	t.Parallel()
	assert.Equal(t, testkit.ReadFile(t, "../../client/fec-boot.sh"), string(client.Script), "client.Script is client/fec-boot.sh")
	assert.True(t, bytes.HasPrefix(client.Script, []byte("#!/bin/sh\n")), "fec-boot.sh starts with #!/bin/sh")
}
