// Package examples runs the shipped integration examples: devacc's Makefile
// include, the yocto-fesa3 deploy hook and the production nginx site.
package examples

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/nginxconf"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binDir holds the binaries built for the tests of this package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fecdeploy-examples-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fecPackBin builds cmd/fec-pack once for all tests of the package.
var fecPackBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "fec-pack")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/fec-pack").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building fec-pack: %w\n%s", err, out)
	}
	return bin, nil
})

func buildFecPack(t *testing.T) string {
	t.Helper()
	bin, err := fecPackBin()
	require.NoError(t, err)
	return bin
}

func newStorage(t *testing.T, fecs map[string]string) string {
	t.Helper()
	base := filepath.Join(t.TempDir(), "ws")
	st, err := storage.Init(base)
	require.NoError(t, err)
	for name, arch := range fecs {
		require.NoError(t, st.AddFEC(t.Context(), name, storage.FECConfig{Arch: arch}))
	}
	return base
}

func TestDevaccMakeInstall(t *testing.T) {
	t.Parallel()
	makeBin := testenv.RequireTool(t, "make")
	fecPack := buildFecPack(t)
	base := newStorage(t, map[string]string{"scu01": "x86_64"})
	work := filepath.Join(t.TempDir(), "devacc")
	out, err := exec.Command("cp", "-a", "devacc", work).CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(makeBin, "-C", filepath.Join(work, "hello"), "install",
		"VERSION=1.0.0", "ARCH=x86_64", "FECS=scu01", "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base)
	cmd.Env = append(os.Environ(), "FECDEPLOY_SIGNING_KEY=")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "make install:\n%s", out)
	require.Contains(t, testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX")), "software/hello_DU/1.0.0/hello_DU-1.0.0-x86_64.tar.zst",
		"INDEX after make install")
	_, err = os.Lstat(filepath.Join(work, "hello", ".fecdeploy-staging"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "staging left behind")
	// Without VERSION the include stops before packing anything.
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }}
	before := testkit.Snapshot(t, base, noLock)
	cmd = exec.Command(makeBin, "-C", filepath.Join(work, "hello"), "install", "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base)
	out, err = cmd.CombinedOutput()
	require.Error(t, err, "make install without VERSION:\n%s", out)
	require.Contains(t, string(out), "set VERSION")
	assert.Equal(t, before, testkit.Snapshot(t, base, noLock), "nothing published")
}

// The include's documented contract: an ordinary Makefile whose only rule is an
// `install` honouring DESTDIR publishes on `make install VERSION=…`, installs
// nothing on the build host, and leaves no staging directory behind, also when
// the publish is refused.
func TestDevaccPlainMakefile(t *testing.T) {
	t.Parallel()
	makeBin := testenv.RequireTool(t, "make")
	fecPack := buildFecPack(t)
	base := newStorage(t, map[string]string{"scu01": "x86_64"})
	include, err := filepath.Abs("devacc/fecdeploy.mk")
	require.NoError(t, err)
	dir := t.TempDir()
	proj := filepath.Join(dir, "plain")
	host := filepath.Join(dir, "host-prefix")
	tmp := filepath.Join(dir, "tmp")
	testkit.WriteTree(t, dir, map[string]string{
		"plain/tool.sh": "#!/bin/sh\necho one\n",
		"plain/Makefile": "PREFIX ?= " + host + "\n" +
			"install:\n" +
			"\tinstall -d $(DESTDIR)$(PREFIX)/bin\n" +
			"\tinstall -m 0755 tool.sh $(DESTDIR)$(PREFIX)/bin/tool\n" +
			"include " + include + "\n",
		"tmp/.keep": "",
	})
	make := func(args ...string) (string, error) {
		cmd := exec.Command(makeBin, append([]string{"-C", proj, "install", "ARCH=x86_64",
			"FEC_PACK=" + fecPack, "FECDEPLOY_STORAGE=" + base}, args...)...)
		cmd.Env = append(os.Environ(), "FECDEPLOY_SIGNING_KEY=", "TMPDIR="+tmp)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	noLeftovers := func(what string) {
		t.Helper()
		_, err := os.Lstat(filepath.Join(proj, ".fecdeploy-staging"))
		assert.ErrorIs(t, err, fs.ErrNotExist, "%s: staging left in the project", what)
		ents, err := os.ReadDir(tmp)
		require.NoError(t, err)
		assert.Len(t, ents, 1, "%s: staging left in TMPDIR: %v", what, ents)
		_, err = os.Lstat(host)
		assert.ErrorIs(t, err, fs.ErrNotExist, "%s: installed on the build host", what)
	}

	out, err := make("VERSION=1.0.0", "FECS=scu01")
	require.NoError(t, err, "make install:\n%s", out)
	assert.NotContains(t, out, "No rule to make target")
	idx := testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX"))
	require.Contains(t, idx, "software/plain/1.0.0/plain-1.0.0-x86_64.tar.zst", "INDEX after make install")
	noLeftovers("publish")

	// Different bytes under the same productive version: refused, nothing changed, nothing left.
	require.NoError(t, os.WriteFile(filepath.Join(proj, "tool.sh"), []byte("#!/bin/sh\necho two\n"), 0o755))
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }}
	before := testkit.Snapshot(t, base, noLock)
	out, err = make("VERSION=1.0.0")
	require.Error(t, err, "republish of different bytes:\n%s", out)
	assert.Contains(t, out, "1.0.0")
	assert.Equal(t, before, testkit.Snapshot(t, base, noLock), "refused publish changed the storage")
	noLeftovers("refused publish")

	// A bad version is refused too, with nothing left.
	out, err = make("VERSION=1.0")
	require.Error(t, err, "bad version:\n%s", out)
	assert.Equal(t, before, testkit.Snapshot(t, base, noLock), "bad version changed the storage")
	noLeftovers("bad version")

	// FECDEPLOY=no is the plain install, as without the include.
	out, err = make("FECDEPLOY=no")
	require.NoError(t, err, "plain install:\n%s", out)
	assert.FileExists(t, filepath.Join(host, "bin/tool"))
}

// Every variable the include's header documents is one the include uses.
func TestDevaccHeaderVariables(t *testing.T) {
	t.Parallel()
	text := testkit.ReadFile(t, "devacc/fecdeploy.mk")
	header, body, ok := strings.Cut(text, "\nPROJECT ")
	require.True(t, ok)
	for _, w := range strings.Fields(header) {
		w = strings.Trim(w, "(),.:;$`\"")
		if len(w) < 4 || strings.ToUpper(w) != w || !strings.ContainsAny(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || strings.ContainsAny(w, "./=") {
			continue
		}
		if strings.HasPrefix(w, "FECDEPLOY_") || w == "FECS" || w == "FEC_PACK" {
			assert.Contains(t, body, w, "header names %s, the include never uses it", w)
		}
	}
}

func TestYoctoFesa3Deploy(t *testing.T) {
	t.Parallel()
	sh := testenv.RequireTool(t, "sh")
	fecPack := buildFecPack(t)
	base := newStorage(t, map[string]string{"scu01": "x86_64", "scu02": "x86_64"})
	dir := t.TempDir()
	staged := filepath.Join(dir, "staged")
	inst := filepath.Join(dir, "instance")
	testkit.WriteTree(t, dir, map[string]string{
		"staged/bin/BeamPosition_DU":           "\x7fELF fake",
		"instance/BeamPosition_DEV01.instance": "<instance/>",
	})
	cmd := exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-u", "BeamPosition_DU", "-v", "2.0.0", "-a", "x86_64",
		"-d", staged, "-i", inst, "-f", "scu01,scu02")
	cmd.Env = append(os.Environ(), "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base, "FECDEPLOY_SIGNING_KEY=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "yocto-fesa3-deploy:\n%s", out)
	for _, fec := range []string{"scu01", "scu02"} {
		idx := testkit.ReadFile(t, filepath.Join(base, "fecs", fec, "INDEX"))
		for _, want := range []string{
			"software BeamPosition_DU ",
			"configuration BeamPosition_DU-instance ",
			"configuration/BeamPosition_DU-instance/2.0.0/",
		} {
			assert.Contains(t, idx, want, "%s INDEX", fec)
		}
	}
	// A missing staged directory is a usage error and publishes nothing.
	cmd = exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-u", "Other_DU", "-v", "1.0.0", "-a", "x86_64", "-d", filepath.Join(dir, "nope"))
	cmd.Env = append(os.Environ(), "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base)
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }}
	before := testkit.Snapshot(t, base, noLock)
	out, err = cmd.CombinedOutput()
	require.Error(t, err, "deploy of a missing dir succeeded:\n%s", out)
	assert.Equal(t, before, testkit.Snapshot(t, base, noLock), "published something")
}

// -h prints the help (the header comment), not the script's code; a bad option is a usage error.
func TestYoctoFesa3Help(t *testing.T) {
	t.Parallel()
	sh := testenv.RequireTool(t, "sh")
	out, err := exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-h").CombinedOutput()
	require.NoError(t, err, "-h:\n%s", out)
	assert.Contains(t, string(out), "-u  deploy unit")
	assert.Contains(t, string(out), "FECDEPLOY_STORAGE")
	for _, code := range []string{"set -eu", "storage=", "usage()", "#"} {
		assert.NotContains(t, string(out), code, "-h prints code")
	}
	cmd := exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-x")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, 2, cmd.ProcessState.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "-u  deploy unit")
}

// The production site config is valid nginx (with the http-level zones and
// worker limits its comments document).
func TestNginxSiteConfig(t *testing.T) {
	t.Parallel()
	nginx := testenv.RequireTool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	site, err := os.ReadFile("nginx/fecdeploy.conf")
	require.NoError(t, err)
	conf, err := nginxconf.Origin(string(site), dir, "127.0.0.1:1", dir)
	require.NoError(t, err)
	for _, want := range []string{"limit_conn_zone $server_name zone=fecdeploy_total:1m;", "worker_connections 8192;", "worker_rlimit_nofile 16384;"} {
		assert.Contains(t, conf, want, "documented in the site file's comments")
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	out, err := exec.Command(nginx, "-t", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir+"/").CombinedOutput()
	require.NoError(t, err, "nginx -t:\n%s", out)
}

// TestSystemdResign runs what examples/systemd/fecdeploy-resign.service runs
// (its Environment= lines pointed at a test storage, key and state
// directory): every INDEX gets a new serial and a new expiry.
func TestSystemdResign(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile("systemd/fecdeploy-resign.service")
	require.NoError(t, err)
	timer, err := os.ReadFile("systemd/fecdeploy-resign.timer")
	require.NoError(t, err)
	assert.Contains(t, string(timer), "OnCalendar=daily")

	dir := t.TempDir()
	keyPath, statePath := filepath.Join(dir, "signing.key"), filepath.Join(dir, "state")
	fecctl := filepath.Join(dir, "fecctl")
	out, err := exec.Command("go", "build", "-o", fecctl, "../cmd/fecctl").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(fecctl, "keygen", filepath.Join(dir, "signing")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	base := newStorage(t, map[string]string{"fec01": "x86_64"})

	var env []string
	var argv []string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			k, _, _ := strings.Cut(v, "=")
			switch k {
			case "FECDEPLOY_STORAGE":
				v = k + "=" + base
			case "FECDEPLOY_SIGNING_KEY":
				v = k + "=" + keyPath
			case "FECDEPLOY_STATE_DIR":
				v = k + "=" + statePath
			}
			env = append(env, v)
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			argv = strings.Fields(v)
		}
	}
	require.Len(t, env, 3, "the unit's Environment= lines")
	require.Equal(t, []string{"/usr/local/bin/fecctl", "resign"}, argv)
	idx := filepath.Join(base, "fecs/fec01/INDEX")
	before := testkit.ReadFile(t, idx)
	require.NotContains(t, before, "serial=", "unsigned before")

	for i := 0; i < 2; i++ {
		cmd := exec.Command(fecctl, argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		out, err = cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	after := testkit.ReadFile(t, idx)
	assert.Contains(t, after, " serial=")
	assert.Contains(t, after, " expires=")
	assert.FileExists(t, filepath.Join(base, "fecs/fec01/INDEX.sig"))
	state := testkit.ReadFile(t, filepath.Join(statePath, storage.SerialFileName))
	assert.Contains(t, after, " serial="+strings.TrimSpace(state)+" ", "the state file holds the last serial issued")
}

var fecBootBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "fec-boot")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/fec-boot").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building fec-boot: %w\n%s", err, out)
	}
	return bin, nil
})

// devFEC starts an sshd playing the FEC scu01 and returns its root and the
// environment that points fec-pack at it.
func devFEC(t *testing.T) (root string, env []string) {
	t.Helper()
	fecBoot, err := fecBootBin()
	require.NoError(t, err)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	root = t.TempDir()
	return root, append(os.Environ(), "FECDEPLOY_SSH_CONFIG="+sshd.SSHConfig(t, "scu01"),
		"FECDEPLOY_FEC_CLIENT="+fecBoot+" --root "+root)
}

// make dev FEC=scu01 installs the project straight onto the FEC, as a dev release.
func TestDevaccMakeDev(t *testing.T) {
	t.Parallel()
	makeBin := testenv.RequireTool(t, "make")
	fecPack := buildFecPack(t)
	root, env := devFEC(t)
	work := filepath.Join(t.TempDir(), "devacc")
	out, err := exec.Command("cp", "-a", "devacc", work).CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(makeBin, "-C", filepath.Join(work, "hello"), "dev", "FEC=scu01", "FEC_PACK="+fecPack)
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "make dev:\n%s", out)
	assert.Contains(t, string(out), "installed hello_DU dev (dev release")
	assert.FileExists(t, filepath.Join(root, "opt/devacc/hello_DU/dev/bin/hello"))
	assert.FileExists(t, filepath.Join(root, "var/lib/fecdeploy/installed/software/hello_DU"))
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/installed/software/hello_DU")), " dev=1 ")

	cmd = exec.Command(makeBin, "-C", filepath.Join(work, "hello"), "dev", "FEC_PACK="+fecPack)
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "set FEC")
}

// yocto-fesa3-deploy.sh -v dev -t FEC: what the FESA plug-in calls.
func TestYoctoFesa3DevToFEC(t *testing.T) {
	t.Parallel()
	sh := testenv.RequireTool(t, "sh")
	fecPack := buildFecPack(t)
	root, env := devFEC(t)
	dir := t.TempDir()
	testkit.WriteTree(t, dir, map[string]string{
		"staged/bin/BeamPosition_DU":           "\x7fELF fake",
		"instance/BeamPosition_DEV01.instance": "<instance/>",
	})
	cmd := exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-u", "BeamPosition_DU", "-v", "dev", "-a", "x86_64",
		"-d", filepath.Join(dir, "staged"), "-i", filepath.Join(dir, "instance"), "-t", "scu01")
	cmd.Env = append(env, "FEC_PACK="+fecPack)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "yocto-fesa3-deploy -t:\n%s", out)
	assert.Equal(t, "\x7fELF fake", testkit.ReadFile(t, filepath.Join(root, "opt/fesa/BeamPosition_DU/dev/bin/BeamPosition_DU")))
	assert.FileExists(t, filepath.Join(root, "opt/fesa/BeamPosition_DU/dev/instance/BeamPosition_DEV01.instance"))

	cmd = exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-u", "BeamPosition_DU", "-v", "1.0.0", "-a", "x86_64",
		"-d", filepath.Join(dir, "staged"), "-t", "scu01")
	cmd.Env = append(env, "FEC_PACK="+fecPack)
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "use -v dev")
}

// The shipped schedule of fec-persist (systemd service and timer, cron):
// the command line they run is accepted by fec-persist and persists
// nothing wrongly on a storage without persistent FECs (exit 0), the exit
// code for "a FEC was not persisted" is not a unit failure, and the cron
// line never overlaps runs.
func TestPersistSchedule(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(binDir, "fec-persist")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/fec-persist").CombinedOutput()
	require.NoError(t, err, "%s", out)
	service := testkit.ReadFile(t, "persist/fec-persist.service")
	timer := testkit.ReadFile(t, "persist/fec-persist.timer")
	cron := testkit.ReadFile(t, "persist/fec-persist.cron")
	assert.Contains(t, service, "SuccessExitStatus=6")
	assert.Contains(t, timer, "OnCalendar=")
	assert.Contains(t, timer, "Persistent=true")
	assert.Contains(t, cron, "flock -n")
	var cmds []string
	for _, l := range strings.Split(service, "\n") {
		if c, ok := strings.CutPrefix(l, "ExecStart="); ok {
			cmds = append(cmds, c)
		}
	}
	for _, l := range strings.Split(cron, "\n") {
		if _, c, ok := strings.Cut(l, "/usr/local/bin/fec-persist"); ok && !strings.HasPrefix(l, "#") {
			c, _, _ = strings.Cut(c, ">>")
			cmds = append(cmds, "/usr/local/bin/fec-persist"+c)
		}
	}
	require.Len(t, cmds, 2)
	base := newStorage(t, map[string]string{"scu01": "x86_64"})
	for _, c := range cmds {
		args := strings.Fields(c)[1:]
		cmd := exec.Command(bin, append(args, "-storage", base)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", c, out)
		assert.Contains(t, string(out), "0 FECs")
	}
}
