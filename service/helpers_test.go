package service_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/service"
	"github.com/fair-acc/fecdeploy/storage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// env is a storage with FECs, a database and the service on 127.0.0.1.
type env struct {
	dir   string // the web storage
	dsn   string
	st    *storage.Storage
	db    *service.DB
	svc   *service.Service
	url   string
	token string
	stop  func()
}

// sqliteDSN is a fresh SQLite file.
func sqliteDSN(t testing.TB) string { return filepath.Join(t.TempDir(), "fecd.db") }

// newEnv makes a storage with the FECs (x86_64) and starts the service on
// it with the database dsn.
func newEnv(t testing.TB, dsn string, opt service.Options, fecs ...string) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "storage")
	st, err := storage.Init(dir)
	require.NoError(t, err)
	ctx := context.Background()
	for _, f := range fecs {
		require.NoError(t, st.AddFEC(ctx, f, storage.FECConfig{Arch: "x86_64"}))
	}
	e := &env{dir: dir, dsn: dsn, st: st}
	e.start(t, opt)
	e.token, err = e.db.CreateToken(ctx, "alice")
	require.NoError(t, err)
	return e
}

// start (re)starts the service on the env's storage and database.
func (e *env) start(t testing.TB, opt service.Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := service.OpenDB(ctx, e.dsn)
	require.NoError(t, err)
	svc, err := service.New(ctx, e.st, db, opt)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx, l) }()
	e.db, e.svc, e.url = db, svc, "http://"+l.Addr().String()
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		db.Close()
	}
	t.Cleanup(e.stop)
}

// archive is a gzip tar of software name version, unpacking below
// opt/fesa/<name>/<version>.
func archive(t testing.TB, name, version string) []byte {
	return clienttest.TarGz(t, clienttest.Tree("opt/fesa/"+name+"/"+version, map[string]string{
		"bin/" + name: "#!/bin/sh\necho " + name + " " + version + "\n",
	}))
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// do sends a request; body may be nil, a []byte or a value sent as JSON.
func (e *env) do(t testing.TB, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		data, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	require.NoError(t, err)
	if z, ok := body.(*zeroReader); ok {
		req.ContentLength = z.n
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// publish uploads an archive of name/version and links it to fecs.
func (e *env) publish(t testing.TB, name, version string, link string) (int, []byte) {
	data := archive(t, name, version)
	return e.do(t, http.MethodPut, fmt.Sprintf("/api/v1/publish/software/%s/%s?arch=x86_64&sha256=%s&link=%s", name, version, sum(data), link), e.token, data)
}

// fleet returns the fleet as the API reports it, by FEC.
func (e *env) fleet(t testing.TB) map[string]service.FECView {
	t.Helper()
	code, body := e.do(t, http.MethodGet, "/api/v1/fecs", "", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var views []service.FECView
	require.NoError(t, json.Unmarshal(body, &views))
	out := map[string]service.FECView{}
	for _, v := range views {
		out[v.Name] = v
	}
	return out
}

// indexSHA is the sha256 of the FEC's INDEX file in the storage.
func (e *env) indexSHA(t testing.TB, fec string) string {
	rel, err := storage.IndexPath(fec)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(e.dir, rel))
	require.NoError(t, err)
	return sum(data)
}

// statusJSON is a boot status as the clients write it.
func statusJSON(fec, indexSHA string, exit int, entries ...map[string]any) []byte {
	if entries == nil {
		entries = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{
		"fec": fec, "base_url": "http://web", "root": "/", "command": "boot", "dry_run": false,
		"index_sha256": indexSHA, "started": time.Now().Add(-time.Second).UTC(), "finished": time.Now().UTC(),
		"duration_ms": 1000, "entries": entries, "scripts": []any{}, "exit_code": exit,
	})
	return b
}

// audits returns the audit records (newest first).
func (e *env) audits(t testing.TB) []service.Audit {
	t.Helper()
	a, err := e.db.Audits(context.Background(), service.AuditFilter{Limit: 1000})
	require.NoError(t, err)
	return a
}

func testkitWrite(t testing.TB, p, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

// snap is the storage's snapshot without the lock file (its content names
// the last holder, which a refused request may have been).
func snap(t testing.TB, dir string) map[string]string {
	return testkit.Snapshot(t, dir, testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }})
}
