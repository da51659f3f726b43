// Package examples runs the shipped integration examples: devacc's Makefile
// include, the yocto-fesa3 deploy hook and the production nginx site.
package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/storage"
)

// buildFecPack builds cmd/fec-pack once for the test.
func buildFecPack(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fec-pack")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/fec-pack").CombinedOutput()
	if err != nil {
		t.Fatalf("building fec-pack: %v\n%s", err, out)
	}
	return bin
}

func newStorage(t *testing.T, fecs map[string]string) string {
	t.Helper()
	base := filepath.Join(t.TempDir(), "ws")
	st, err := storage.Init(base)
	if err != nil {
		t.Fatal(err)
	}
	for name, arch := range fecs {
		if err := st.AddFEC(t.Context(), name, storage.FECConfig{Arch: arch}); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

func TestDevaccMakeInstall(t *testing.T) {
	makeBin := testenv.RequireTool(t, "make")
	fecPack := buildFecPack(t)
	base := newStorage(t, map[string]string{"scu01": "x86_64"})
	work := filepath.Join(t.TempDir(), "devacc")
	if out, err := exec.Command("cp", "-a", "devacc", work).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cmd := exec.Command(makeBin, "-C", filepath.Join(work, "hello"), "install",
		"VERSION=1.0.0", "ARCH=x86_64", "FECS=scu01", "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base)
	cmd.Env = append(os.Environ(), "FECDEPLOY_SIGNING_KEY=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	idx, err := os.ReadFile(filepath.Join(base, "fecs/scu01/INDEX"))
	if err != nil || !strings.Contains(string(idx), "software/hello_DU/1.0.0/hello_DU-1.0.0-x86_64.tar.zst") {
		t.Fatalf("INDEX after make install: %v\n%s", err, idx)
	}
	if _, err := os.Stat(filepath.Join(work, "hello", ".fecdeploy-staging")); !os.IsNotExist(err) {
		t.Errorf("staging left behind: %v", err)
	}
	// Without VERSION the include stops before packing anything.
	cmd = exec.Command(makeBin, "-C", filepath.Join(work, "hello"), "install", "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "set VERSION") {
		t.Fatalf("make install without VERSION: %v\n%s", err, out)
	}
}

func TestYoctoFesa3Deploy(t *testing.T) {
	sh := testenv.RequireTool(t, "sh")
	fecPack := buildFecPack(t)
	base := newStorage(t, map[string]string{"scu01": "x86_64", "scu02": "x86_64"})
	dir := t.TempDir()
	staged := filepath.Join(dir, "staged")
	inst := filepath.Join(dir, "instance")
	for p, body := range map[string]string{
		filepath.Join(staged, "bin/BeamPosition_DU"):       "\x7fELF fake",
		filepath.Join(inst, "BeamPosition_DEV01.instance"): "<instance/>",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-u", "BeamPosition_DU", "-v", "2.0.0", "-a", "x86_64",
		"-d", staged, "-i", inst, "-f", "scu01,scu02")
	cmd.Env = append(os.Environ(), "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base, "FECDEPLOY_SIGNING_KEY=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("yocto-fesa3-deploy: %v\n%s", err, out)
	}
	for _, fec := range []string{"scu01", "scu02"} {
		idx, _ := os.ReadFile(filepath.Join(base, "fecs", fec, "INDEX"))
		for _, want := range []string{
			"software BeamPosition_DU ",
			"configuration BeamPosition_DU-instance ",
			"configuration/BeamPosition_DU-instance/2.0.0/",
		} {
			if !strings.Contains(string(idx), want) {
				t.Errorf("%s INDEX lacks %q:\n%s", fec, want, idx)
			}
		}
	}
	// A missing staged directory is a usage error and publishes nothing.
	cmd = exec.Command(sh, "fesa/yocto-fesa3-deploy.sh", "-u", "Other_DU", "-v", "1.0.0", "-a", "x86_64", "-d", filepath.Join(dir, "nope"))
	cmd.Env = append(os.Environ(), "FEC_PACK="+fecPack, "FECDEPLOY_STORAGE="+base)
	if err := cmd.Run(); err == nil {
		t.Fatal("deploy of a missing dir succeeded")
	}
	if _, err := os.Stat(filepath.Join(base, "software/Other_DU")); !os.IsNotExist(err) {
		t.Fatalf("published something: %v", err)
	}
}

// The production site config is valid nginx (with its http-level zones).
func TestNginxSiteConfig(t *testing.T) {
	nginx := testenv.RequireTool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	site, err := os.ReadFile("nginx/fecdeploy.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log;\nevents {}\nhttp {\n" +
		"access_log off;\nclient_body_temp_path " + dir + "/cb;\nproxy_temp_path " + dir + "/p;\nfastcgi_temp_path " + dir + "/f;\nuwsgi_temp_path " + dir + "/u;\nscgi_temp_path " + dir + "/s;\n" +
		"limit_req_zone $binary_remote_addr zone=fecdeploy:10m rate=50r/s;\n" +
		"limit_conn_zone $binary_remote_addr zone=fecdeploy_conn:10m;\n" +
		strings.ReplaceAll(strings.ReplaceAll(string(site), "listen 80;", "listen 127.0.0.1:1;"), "listen [::]:80;", "") + "\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}
