package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
)

// The test binary runs as fecd itself when FECD_TEST_MAIN=1 (so the kill
// test has a real process to kill).
func TestMain(m *testing.M) {
	if os.Getenv("FECD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func fecd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestToken(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "fecd.db")
	code, tok, stderr := fecd(t, "token", "-db", db, "ci-fesa")
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(tok, "fecd_"))
	code, _, stderr = fecd(t, "token", "-db", db, "ci-fesa")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "exists")
	code, list, _ := fecd(t, "token", "-db", db, "-list")
	require.Equal(t, 0, code)
	assert.Contains(t, list, "ci-fesa\t")
	assert.NotContains(t, list, strings.TrimSpace(tok))
	// only the hash is stored
	data, err := os.ReadFile(db)
	require.NoError(t, err)
	assert.NotContains(t, string(data), strings.TrimSpace(tok))
	code, _, stderr = fecd(t, "token", "-db", db, "-revoke", "ci-fesa")
	require.Equal(t, 0, code, stderr)
	code, _, _ = fecd(t, "token", "-db", db, "-revoke", "ci-fesa")
	assert.Equal(t, 3, code)
	code, _, _ = fecd(t)
	assert.Equal(t, 2, code)
}

// TestKillDuringPublish kills fecd (SIGKILL) while an upload streams into
// the storage: the storage verifies clean, the version is not published,
// and a new fecd publishes it.
func TestKillDuringPublish(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "storage")
	st, err := storage.Init(dir)
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(context.Background(), "fec01", storage.FECConfig{Arch: "x86_64"}))
	db := filepath.Join(t.TempDir(), "fecd.db")
	code, tok, stderr := fecd(t, "token", "-db", db, "ci")
	require.Equal(t, 0, code, stderr)
	tok = strings.TrimSpace(tok)
	before := testkit.Snapshot(t, dir)

	start := func() (*exec.Cmd, string) {
		port := testenv.FreePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(os.Args[0], "serve", "-storage", dir, "-db", db, "-listen", addr)
		cmd.Env = append(os.Environ(), "FECD_TEST_MAIN=1", "FECDEPLOY_SIGNING_KEY=")
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		testenv.WaitPort(t, addr, 30*time.Second)
		return cmd, "http://" + addr
	}
	cmd, url := start()

	// a 64 MiB "archive" (gzip magic, then noise), of which only half is sent
	big := make([]byte, 64<<20)
	_, _ = rand.Read(big)
	big[0], big[1], big[2] = 0x1f, 0x8b, 8
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, url+"/api/v1/publish/software/Foo_DU/1.0.0?arch=x86_64&sha256="+testkit.SHA256(big), pr)
	require.NoError(t, err)
	req.ContentLength = int64(len(big))
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	_, err = pw.Write(big[:32<<20])
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the service is writing the temp file now
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	pw.CloseWithError(io.ErrClosedPipe)
	require.Error(t, <-done)

	// fecctl verify's check: clean; nothing published
	st, err = storage.Open(dir)
	require.NoError(t, err)
	rep, err := st.Verify(context.Background())
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	// No archive appeared: only the (empty) version folder the publish made
	// and the killed writer's temp file, which fecctl clean removes.
	after := testkit.Snapshot(t, dir)
	for p, what := range after {
		if _, ok := before[p]; !ok && !strings.Contains(p, ".fecdeploy-tmp-") {
			assert.True(t, strings.HasPrefix(what, "dir "), "%s appeared: %s", p, what)
		}
	}

	// a new service takes the lock and publishes
	_, url = start()
	data := clienttest.TarGz(t, clienttest.Tree("opt/fesa/Foo_DU/1.0.0", map[string]string{"bin/Foo_DU": "#!/bin/sh\n"}))
	req, err = http.NewRequest(http.MethodPut, url+"/api/v1/publish/software/Foo_DU/1.0.0?arch=x86_64&link=fec01&sha256="+testkit.SHA256(data), bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
}
