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

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/internal/testenv"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unit parses a systemd unit into section -> key -> values.
func unit(t *testing.T, p string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	sec := ""
	sc := bufio.NewScanner(strings.NewReader(read(t, p)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			out[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("%s:%d: not key=value inside a section: %q", p, n, line)
			}
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
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Usage:")) {
			t.Errorf("%s: fec-boot %v --help: %v\n%s", where, args, err, out)
		}
	case "/usr/sbin/fec-boot.sh":
		bb, dir := testenv.BusyboxPath(t)
		cmd := exec.Command(bb, append([]string{"sh", "../../client/fec-boot.sh"}, append(args, "--help")...)...)
		cmd.Env = []string{"PATH=" + dir}
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Usage:")) {
			t.Errorf("%s: fec-boot.sh %v --help: %v\n%s", where, args, err, out)
		}
	default:
		t.Errorf("%s: calls %s, which no recipe installs", where, bin)
	}
}

var recipes = []struct{ recipe, init, service, bin, installLine string }{
	{"fecdeploy-shell_1.0.bb", "files/fecdeploy-shell.init", "files/fecdeploy-shell.service", "/usr/sbin/fec-boot.sh",
		"install -m 0755 ${S}/client/fec-boot.sh ${D}${sbindir}/fec-boot.sh"},
	{"fecdeploy-go_git.bb", "files/fecdeploy-go.init", "files/fecdeploy-go.service", "/usr/bin/fec-boot",
		"GO_INSTALL = \"${GO_IMPORT}/cmd/fec-boot\""},
	{"fecdeploy-go-bin_1.0.bb", "files/fecdeploy-go.init", "files/fecdeploy-go.service", "/usr/bin/fec-boot",
		"install -m 0755 ${WORKDIR}/${GOARCH_BIN}/fec-boot ${D}${bindir}/fec-boot"},
}

func TestRecipes(t *testing.T) {
	for _, r := range recipes {
		bb := read(t, r.recipe)
		if !strings.Contains(bb, r.installLine) {
			t.Errorf("%s does not install %s (%q)", r.recipe, r.bin, r.installLine)
		}
		for _, f := range []string{r.init, r.service, "files/fecdeploy.conf"} {
			if !strings.Contains(bb, "file://"+filepath.Base(f)) {
				t.Errorf("%s does not fetch %s", r.recipe, f)
			}
		}
		for _, want := range []string{"inherit ", "update-rc.d", "systemd", "INITSCRIPT_NAME = \"fecdeploy\"",
			"SYSTEMD_SERVICE:${PN} = \"fecdeploy.service\"", "${sysconfdir}/init.d/fecdeploy", "${systemd_system_unitdir}/fecdeploy.service"} {
			if !strings.Contains(bb, want) {
				t.Errorf("%s: missing %q", r.recipe, want)
			}
		}
	}
	if !strings.Contains(read(t, "fecdeploy-go_git.bb"), "inherit go-mod") {
		t.Error("fecdeploy-go_git.bb does not inherit go-mod")
	}
	if !strings.Contains(read(t, "fecdeploy-go-bin_1.0.bb"), "inherit bin_package") {
		t.Error("fecdeploy-go-bin_1.0.bb does not inherit bin_package")
	}
	if !strings.Contains(read(t, "fecdeploy-shell_1.0.bb"), "RDEPENDS:${PN} = \"busybox\"") {
		t.Error("fecdeploy-shell_1.0.bb does not depend on busybox")
	}
}

func TestSystemdUnits(t *testing.T) {
	for _, r := range recipes {
		u := unit(t, r.service)
		want := map[string]map[string]string{
			"Unit":    {"Wants": "network-online.target", "After": "network-online.target"},
			"Service": {"Type": "oneshot"},
			"Install": {"WantedBy": "multi-user.target"},
		}
		for sec, kv := range want {
			for k, v := range kv {
				if !strings.Contains(" "+strings.Join(u[sec][k], " ")+" ", " "+v+" ") {
					t.Errorf("%s: [%s] %s does not name %s (got %v)", r.service, sec, k, v, u[sec][k])
				}
			}
		}
		if len(u["Unit"]["Before"]) == 0 {
			t.Errorf("%s: no Before= (it must run before the equipment services)", r.service)
		}
		exec := u["Service"]["ExecStart"]
		if len(exec) != 1 {
			t.Fatalf("%s: want one ExecStart, got %v", r.service, exec)
		}
		f := strings.Fields(exec[0])
		if f[0] == "/bin/sh" { // the script through the shell
			f = f[1:]
		}
		if f[0] != r.bin {
			t.Errorf("%s: ExecStart runs %s, the recipe installs %s", r.service, f[0], r.bin)
		}
		checkArgs(t, r.service, f[0], f[1:])
	}
}

var initCall = regexp.MustCompile(`(?m)^\s*(/usr/s?bin/fec-boot(?:\.sh)?)((?: [^;&|\n]*)?)$`)

func TestSysVScripts(t *testing.T) {
	bb, dir := testenv.BusyboxPath(t)
	for _, r := range recipes {
		src := read(t, r.init)
		if !strings.Contains(src, "### BEGIN INIT INFO") || !strings.Contains(src, "# Provides:          fecdeploy") ||
			!strings.Contains(src, "$network") {
			t.Errorf("%s: LSB header missing or not after $network", r.init)
		}
		cmd := exec.Command(bb, "sh", "-n", r.init)
		cmd.Env = []string{"PATH=" + dir}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: syntax: %v\n%s", r.init, err, out)
		}
		m := initCall.FindAllStringSubmatch(src, -1)
		if len(m) != 1 {
			t.Fatalf("%s: want one call of the client, found %d", r.init, len(m))
		}
		if m[0][1] != r.bin {
			t.Errorf("%s: runs %s, the recipe installs %s", r.init, m[0][1], r.bin)
		}
		checkArgs(t, r.init, m[0][1], strings.Fields(m[0][2]))
	}
}

func TestConfigFileIsValid(t *testing.T) {
	if _, err := fec.ReadConfig(fec.Sources{ConfPath: "files/fecdeploy.conf", CmdlinePath: "none"}); err != nil {
		t.Errorf("Go client: %v", err)
	}
	bb, dir := testenv.BusyboxPath(t)
	cmd := exec.Command(bb, "sh", "../../client/fec-boot.sh", "--conf", "files/fecdeploy.conf", "--cmdline", "none",
		"--url", "http://127.0.0.1:1", "--retries", "0", "--start-jitter", "0", "--dry-run", "--root", t.TempDir())
	cmd.Env = []string{"PATH=" + dir}
	out, _ := cmd.CombinedOutput()
	// Gets past the configuration (a storage at port 1 is unreachable: 3).
	if cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("shell client with files/fecdeploy.conf: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
}

func TestEmbeddedScriptIsTheRepositoryCopy(t *testing.T) {
	if !bytes.Equal(client.Script, []byte(read(t, "../../client/fec-boot.sh"))) {
		t.Error("client.Script differs from client/fec-boot.sh")
	}
	if !bytes.HasPrefix(client.Script, []byte("#!/bin/sh\n")) {
		t.Error("fec-boot.sh does not start with #!/bin/sh")
	}
}
