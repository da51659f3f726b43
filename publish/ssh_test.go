package publish_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/demo"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	binDir  string
	binOnce = map[string]*sync.Once{"fec-boot": {}, "fecctl": {}}
	binErr  = map[string]error{}
)

func TestMain(m *testing.M) {
	var err error
	binDir, err = os.MkdirTemp("", "publish-test-bin-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// bin builds cmd/<name> once per test run and returns its path.
func bin(t *testing.T, name string) string {
	t.Helper()
	binOnce[name].Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "../cmd/"+name).CombinedOutput()
		if err != nil {
			binErr[name] = err
			t.Logf("go build %s: %s", name, out)
		}
	})
	require.NoError(t, binErr[name])
	return filepath.Join(binDir, name)
}

// fecHost is an sshd playing a FEC whose root is a temp directory.
type fecHost struct {
	sshd   *testenv.SSHD
	ssh    publish.SSH
	root   string
	tmp    string // where dev releases are copied before install
	client string
}

func newFEC(t *testing.T) *fecHost {
	t.Helper()
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	h := &fecHost{sshd: sshd, root: t.TempDir(), tmp: t.TempDir()}
	h.ssh = publish.SSH{Host: "scu01", ConfigFile: sshd.SSHConfig(t, "scu01")}
	h.client = bin(t, "fec-boot") + " --root " + h.root
	return h
}

func (h *fecHost) request(src string) publish.DevRequest {
	return publish.DevRequest{
		Request: publish.Request{Name: "Foo_DU", SourceDir: src, Prefix: "opt/fesa/Foo_DU/dev"},
		SSH:     h.ssh, Client: h.client, TempDir: h.tmp,
	}
}

// A dev release reaches the FEC over ssh, is installed there by the FEC's
// own client, recorded as a dev release, and at the next boot (whose INDEX
// does not name it) the demo's start script does not start it as a daemon.
func TestDevReleaseReachesFEC(t *testing.T) {
	t.Parallel()
	h := newFEC(t)
	src := testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "#!/bin/sh\necho foo v2\n", "etc/foo.conf": "x=1\n"})
	res, err := publish.DevRelease(context.Background(), h.request(src))
	require.NoError(t, err)
	assert.Contains(t, res.Output, "installed Foo_DU dev")
	assert.Equal(t, "#!/bin/sh\necho foo v2\n", testkit.ReadFile(t, filepath.Join(h.root, "opt/fesa/Foo_DU/dev/bin/foo")))
	devs, err := fec.DevReleases(fec.Config{Root: h.root})
	require.NoError(t, err)
	require.Len(t, devs, 1)
	assert.Equal(t, "Foo_DU", devs[0].Name)
	assert.Equal(t, res.Pack.SHA256, devs[0].SHA256)
	assert.Empty(t, testkit.Paths(t, h.tmp), "the copy on the FEC is removed")

	// fecctl dev ls lists it remotely.
	listed, err := publish.ListDev(context.Background(), h.ssh, h.client)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assert.Equal(t, "opt/fesa/Foo_DU/dev", listed[0].Prefix)

	// Boot: the INDEX names Bar_DU (productive) but not Foo_DU.
	ws := clienttest.NewStorage(t)
	ws.Software(t, "scu01", "Bar_DU", "1.0.0", clienttest.Tree("opt/fesa/Bar_DU/1.0.0", map[string]string{"bin/bar": "bar"}))
	ws.Init(t, "scu01", "50-start-daemons", demo.StartScript)
	ws.WriteIndex(t, "scu01", nil)
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	var out, logs bytes.Buffer
	st, err := fec.Boot(context.Background(), fec.Config{BaseURL: srv.URL, FEC: "scu01", Root: h.root, ScriptOutput: &out,
		Logger: testLogger(&logs)})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "Foo_DU is a dev release: not started as a daemon")
	assert.Contains(t, out.String(), "starting Bar_DU as a daemon")
	assert.Contains(t, logs.String(), "dev release kept")
	assert.FileExists(t, filepath.Join(h.root, "opt/fesa/Foo_DU/dev/bin/foo"))
	var kept bool
	for _, e := range st.Entries {
		kept = kept || (e.Name == "Foo_DU" && e.Action == fec.ActionKeptDev && e.Dev)
	}
	assert.True(t, kept, "status lists the kept dev release")

	// fecctl dev rm removes it, files and record.
	_, err = publish.RemoveDevRemote(context.Background(), h.ssh, h.client, "Foo_DU")
	require.NoError(t, err)
	assert.NoDirExists(t, filepath.Join(h.root, "opt/fesa/Foo_DU/dev"))
	devs, err = fec.DevReleases(fec.Config{Root: h.root})
	require.NoError(t, err)
	assert.Empty(t, devs)
}

// When the INDEX names the software of a dev install, the INDEX wins and
// the boot says so.
func TestBootIndexBeatsDevInstall(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := filepath.Join(t.TempDir(), "Foo_DU-dev.tar.zst")
	src := testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "dev"})
	stats, err := publish.PackFile(context.Background(), file, publish.Request{SourceDir: src, Prefix: "opt/fesa/Foo_DU/1.0.0"})
	require.NoError(t, err)
	_, err = fec.InstallArchive(context.Background(), fec.Config{Root: root}, fec.ArchiveRequest{File: file, SHA256: stats.SHA256, Name: "Foo_DU"})
	require.NoError(t, err)
	ws := clienttest.NewStorage(t)
	ws.Software(t, "scu01", "Foo_DU", "1.0.0", clienttest.Tree("opt/fesa/Foo_DU/1.0.0", map[string]string{"bin/foo": "release"}))
	ws.WriteIndex(t, "scu01", nil)
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	_, err = fec.Boot(context.Background(), fec.Config{BaseURL: srv.URL, FEC: "scu01", Root: root, Logger: testLogger(&logs)})
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "the INDEX wins")
	assert.Equal(t, "release", testkit.ReadFile(t, filepath.Join(root, "opt/fesa/Foo_DU/1.0.0/bin/foo")))
	devs, err := fec.DevReleases(fec.Config{Root: root})
	require.NoError(t, err)
	assert.Empty(t, devs)
}

// The connection dropping mid-copy leaves the previous install as it was
// and no temp file on the FEC.
func TestDevReleaseConnectionDropped(t *testing.T) {
	t.Parallel()
	h := newFEC(t)
	v1 := testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "v1"})
	_, err := publish.DevRelease(context.Background(), h.request(v1))
	require.NoError(t, err)
	before := testkit.Snapshot(t, h.root)

	// v2: 24 MB of incompressible data; the ssh client is killed after 2 MB.
	v2 := t.TempDir()
	big := make([]byte, 24<<20)
	_, _ = rand.Read(big)
	require.NoError(t, os.MkdirAll(filepath.Join(v2, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(v2, "bin/foo"), big, 0o755))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := h.request(v2)
	req.Format = index.FormatGzip
	req.Level = 1
	req.Sent = func(n int64) {
		if n > 2<<20 {
			cancel()
		}
	}
	_, err = publish.DevRelease(ctx, req)
	require.Error(t, err)
	require.ErrorIs(t, err, publish.ErrSSH)

	// The FEC side notices the dropped connection by itself.
	require.Eventually(t, func() bool { return len(testkit.Paths(t, h.tmp)) == 0 }, 20*time.Second, 100*time.Millisecond,
		"temp copy left on the FEC: %v", testkit.Paths(t, h.tmp))
	time.Sleep(300 * time.Millisecond) // a refused install-archive would have run by now
	assert.Equal(t, before, testkit.Snapshot(t, h.root), "previous install and its record unchanged")
}

// An unknown host key is refused with a message that says how to add it;
// nothing reaches the FEC.
func TestDevReleaseUnknownHostKey(t *testing.T) {
	t.Parallel()
	h := newFEC(t)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	conf := strings.ReplaceAll(testkit.ReadFile(t, h.ssh.ConfigFile), h.sshd.KnownHosts, empty)
	h.ssh.ConfigFile = filepath.Join(t.TempDir(), "ssh_config")
	require.NoError(t, os.WriteFile(h.ssh.ConfigFile, []byte(conf+"  GlobalKnownHostsFile /dev/null\n"), 0o644))
	src := testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "v1"})
	_, err := publish.DevRelease(context.Background(), h.request(src))
	require.ErrorIs(t, err, publish.ErrHostKey)
	assert.Contains(t, err.Error(), "ssh-keyscan")
	assert.Contains(t, err.Error(), "known_hosts")
	assert.Empty(t, testkit.Paths(t, h.root))
	assert.Empty(t, testkit.Paths(t, h.tmp))
}

func testLogger(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// writer is an sshd playing the writer host with a storage on it.
func newWriter(t *testing.T) (publish.RemoteRequest, *storage.Storage) {
	t.Helper()
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	dir := filepath.Join(t.TempDir(), "ws")
	st, err := storage.Init(dir)
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(context.Background(), "scu01", storage.FECConfig{Arch: "x86_64"}))
	return publish.RemoteRequest{
		Request: publish.Request{Name: "Foo_DU", Version: "1.0.0", Arch: "x86_64", Prefix: "opt/fesa/Foo_DU/1.0.0", Link: []string{"scu01"}},
		SSH:     publish.SSH{Host: "writer", ConfigFile: sshd.SSHConfig(t, "writer")},
		Dir:     dir, Fecctl: bin(t, "fecctl"),
	}, st
}

// A remote publish waits while another publisher holds the storage lock,
// then succeeds; the same bytes again are a no-op.
func TestRemotePublishWaitsForLock(t *testing.T) {
	t.Parallel()
	req, st := newWriter(t)
	req.SourceDir = testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "v1"})
	unlock, err := st.Lock(context.Background())
	require.NoError(t, err)
	type answer struct {
		res publish.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := publish.RemoteRelease(context.Background(), req)
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		t.Fatalf("remote publish finished while the lock was held: %+v", a)
	case <-time.After(3 * time.Second):
	}
	require.NoError(t, unlock())
	var a answer
	select {
	case a = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("remote publish did not finish after the lock was released")
	}
	require.NoError(t, a.err)
	assert.Equal(t, "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst", a.res.Published.Path)
	assert.Equal(t, a.res.Pack.SHA256, a.res.Published.SHA256)
	assert.Equal(t, []string{"scu01"}, a.res.Linked)
	assert.FileExists(t, filepath.Join(req.Dir, a.res.Published.Path))

	again, err := publish.RemoteRelease(context.Background(), req)
	require.NoError(t, err)
	assert.True(t, again.Published.Unchanged)
}

// Different bytes under an existing productive version are refused over
// ssh as locally, with nothing changed in the storage.
func TestRemotePublishImmutable(t *testing.T) {
	t.Parallel()
	req, _ := newWriter(t)
	req.SourceDir = testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "v1"})
	_, err := publish.RemoteRelease(context.Background(), req)
	require.NoError(t, err)
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }}
	before := testkit.Snapshot(t, req.Dir, noLock)
	req.SourceDir = testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "v1, changed"})
	_, err = publish.RemoteRelease(context.Background(), req)
	require.ErrorIs(t, err, storage.ErrImmutable)
	assert.Contains(t, err.Error(), "different content")
	assert.Equal(t, before, testkit.Snapshot(t, req.Dir, noLock))
}

// The same with a busybox FEC: fec-boot.sh under a busybox-only PATH on the
// ssh server installs the dev release, lists and removes it, and its boot
// keeps it and marks it dev for the start script.
func TestDevReleaseShellClient(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{KeyOptions: `environment="PATH=` + sh.PathDir + `"`})
	root, tmp := t.TempDir(), t.TempDir()
	ssh := publish.SSH{Host: "ppc01", ConfigFile: sshd.SSHConfig(t, "ppc01")}
	client := sh.Busybox + " sh " + sh.Script + " --root " + root
	src := testkit.WriteTree(t, t.TempDir(), map[string]string{"bin/foo": "#!/bin/sh\necho foo\n"})
	res, err := publish.DevRelease(context.Background(), publish.DevRequest{
		Request: publish.Request{Name: "Foo_DU", SourceDir: src, Prefix: "opt/fesa/Foo_DU/dev", Format: index.FormatGzip},
		SSH:     ssh, Client: client, TempDir: tmp,
	})
	require.NoError(t, err)
	assert.Contains(t, res.Output, "installed Foo_DU dev")
	assert.Equal(t, "#!/bin/sh\necho foo\n", testkit.ReadFile(t, filepath.Join(root, "opt/fesa/Foo_DU/dev/bin/foo")))
	assert.Empty(t, testkit.Paths(t, tmp))
	devs, err := publish.ListDev(context.Background(), ssh, client)
	require.NoError(t, err)
	require.Len(t, devs, 1)
	assert.Equal(t, res.Pack.SHA256, devs[0].SHA256)
	assert.Equal(t, "opt/fesa/Foo_DU/dev", devs[0].Prefix)
	goDevs, err := fec.DevReleases(fec.Config{Root: root})
	require.NoError(t, err)
	assert.Equal(t, devs[0].SHA256, goDevs[0].SHA256, "both clients read the same record")

	ws := clienttest.NewStorage(t)
	ws.Archive(t, "ppc01", index.KindSoftware, "Bar_DU", "1.0.0", index.FormatGzip,
		clienttest.Tree("opt/fesa/Bar_DU/1.0.0", map[string]string{"bin/bar": "bar"}))
	ws.Init(t, "ppc01", "50-start-daemons", demo.StartScript)
	ws.WriteIndex(t, "ppc01", nil)
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	r := sh.Run(t, nil, "--url", srv.URL, "--fec", "ppc01", "--root", root, "--start-jitter", "0", "--cmdline", "none")
	require.Equal(t, 0, r.Code, "%s\n%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stdout, "Foo_DU is a dev release: not started as a daemon")
	assert.Contains(t, r.Stdout, "starting Bar_DU as a daemon")
	assert.Contains(t, r.Stderr, "dev release kept")

	out, err := publish.RemoveDevRemote(context.Background(), ssh, client, "Foo_DU")
	require.NoError(t, err, out)
	assert.NoDirExists(t, filepath.Join(root, "opt/fesa/Foo_DU/dev"))
	devs, err = publish.ListDev(context.Background(), ssh, client)
	require.NoError(t, err)
	assert.Empty(t, devs)
}
