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

// The production site config is valid nginx (with its http-level zones).
func TestNginxSiteConfig(t *testing.T) {
	t.Parallel()
	nginx := testenv.RequireTool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	site, err := os.ReadFile("nginx/fecdeploy.conf")
	require.NoError(t, err)
	conf := "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log;\nevents {}\nhttp {\n" +
		"access_log off;\nclient_body_temp_path " + dir + "/cb;\nproxy_temp_path " + dir + "/p;\nfastcgi_temp_path " + dir + "/f;\nuwsgi_temp_path " + dir + "/u;\nscgi_temp_path " + dir + "/s;\n" +
		"limit_req_zone $binary_remote_addr zone=fecdeploy:10m rate=50r/s;\n" +
		"limit_conn_zone $binary_remote_addr zone=fecdeploy_conn:10m;\n" +
		strings.ReplaceAll(strings.ReplaceAll(string(site), "listen 80;", "listen 127.0.0.1:1;"), "listen [::]:80;", "") + "\n}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	out, err := exec.Command(nginx, "-t", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir+"/").CombinedOutput()
	require.NoError(t, err, "nginx -t:\n%s", out)
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
