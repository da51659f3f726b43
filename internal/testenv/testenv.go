// Package testenv starts the real components the integration tests run
// against (nginx, busybox, sshd) on 127.0.0.1, each in a temp directory and
// stopped at the end of the test. A missing tool skips the test locally; under
// CI=true a skip of a real-component test is a failure.
package testenv

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bb "github.com/fair-acc/fecdeploy/internal/busybox"
	"github.com/fair-acc/fecdeploy/internal/nginxconf"
)

// InCI reports whether the tests run under CI (CI=true), where missing tools
// are failures, not skips.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireTool returns the path of a program, or skips the test (fails it
// under CI) when it is missing.
func RequireTool(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	for _, c := range append(candidates, name) {
		if filepath.IsAbs(c) {
			if st, err := os.Stat(c); err == nil && !st.IsDir() {
				return c
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s not installed (apt-get install it; .ci/run does)", name)
	if InCI() {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skip(msg)
	return ""
}

// Unavailable skips a test whose real component (a tool, a tmpfs mount,
// root) is not available here, and fails it under CI, where it must be.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skip(msg)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort waits until something accepts connections on addr.
func WaitPort(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %v", addr, timeout)
}

// Nginx is a running nginx serving a directory.
type Nginx struct {
	URL  string // http://127.0.0.1:<port>, no trailing slash
	Dir  string // config, logs and temp files
	Addr string
	cmd  *exec.Cmd
}

// NginxOptions tune StartNginx.
type NginxOptions struct {
	// Extra is inserted into the server block (e.g. a limit_req or a
	// location returning 503).
	Extra string
	// HTTP is inserted into the http block (e.g. limit_req_zone).
	HTTP string
}

// StartNginx serves root on a free loopback port with a configuration like
// examples/nginx/ (static GET, symlinks followed, etag on) and stops it when
// the test ends.
func StartNginx(t testing.TB, root string, opts NginxOptions) *Nginx {
	t.Helper()
	bin := RequireTool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	port := FreePort(t)
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	conf := nginxconf.Config(nginxconf.Options{
		Dir:       dir,
		Port:      port,
		Root:      absRoot,
		AccessLog: filepath.Join(dir, "access.log"),
		HTTP:      "types { text/plain INDEX; }\n    " + opts.HTTP,
		Extra:     opts.Extra,
	})
	return startNginx(t, bin, dir, port, conf)
}

// startNginx runs nginx with conf (listening on 127.0.0.1:port, writing in
// dir) until the test ends.
func startNginx(t testing.TB, bin, dir string, port int, conf string) *Nginx {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir+"/", "-g", "daemon off;")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	n := &Nginx{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	t.Cleanup(n.Stop)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("nginx exited at start: %s", stderr.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", n.Addr, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s: %s", n.Addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.cmd = cmd
	return n
}

// StartCachingProxy runs site (the text of examples/nginx/caching-proxy.conf)
// on a free loopback port in front of origin (http://host:port) until the
// test ends. Its access log is AccessLog.
func StartCachingProxy(t testing.TB, site, origin string) *Nginx {
	t.Helper()
	bin := RequireTool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	port := FreePort(t)
	conf, err := nginxconf.CachingProxy(site, dir, fmt.Sprintf("127.0.0.1:%d", port), origin)
	if err != nil {
		t.Fatal(err)
	}
	return startNginx(t, bin, dir, port, conf)
}

// StartOrigin runs site (the text of examples/nginx/fecdeploy.conf, the
// production web storage, possibly edited by the test) serving root on a
// free loopback port until the test ends. Its access log is AccessLog.
func StartOrigin(t testing.TB, site, root string) *Nginx {
	t.Helper()
	bin := RequireTool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	port := FreePort(t)
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := nginxconf.Origin(site, dir, fmt.Sprintf("127.0.0.1:%d", port), absRoot)
	if err != nil {
		t.Fatal(err)
	}
	return startNginx(t, bin, dir, port, conf)
}

// Stop stops nginx (idempotent).
func (n *Nginx) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
	time.Sleep(50 * time.Millisecond)
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	n.cmd = nil
}

// AccessLog returns nginx's access log so far.
func (n *Nginx) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "access.log"))
	return string(b)
}

// Get fetches a URL path from the server and returns the body.
func (n *Nginx) Get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(n.URL + "/" + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// BusyboxPath returns a directory holding only busybox applets as symlinks,
// for PATH=<dir> so that nothing from the host leaks into a shell test.
func BusyboxPath(t testing.TB) (busybox, dir string) {
	t.Helper()
	busybox = RequireTool(t, "busybox", "/bin/busybox", "/usr/bin/busybox")
	dir = t.TempDir()
	if err := bb.LinkApplets(busybox, dir); err != nil {
		t.Fatal(err)
	}
	return busybox, dir
}

// RunParallel runs a package's tests from its TestMain with up to n parallel
// tests at once, unless -test.parallel was given. It is for packages whose
// tests mostly wait on child processes (nginx, busybox sh, init scripts
// sleeping into their timeout), not on the CPU: the default of GOMAXPROCS
// leaves a 2-core machine idle while they wait.
func RunParallel(m *testing.M, n int) int {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
	return m.Run()
}
