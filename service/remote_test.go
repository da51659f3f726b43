package service_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/service"
)

// fakeFEC is a real sshd with the shipped forced-command entry; restart and
// reboot are replaced by scripts that append to a log (reboot simulated).
type fakeFEC struct {
	sshd *testenv.SSHD
	log  string
}

func startFakeFEC(t *testing.T) *fakeFEC {
	t.Helper()
	forced, err := filepath.Abs("../examples/service/fecd-forced-command.sh")
	require.NoError(t, err)
	dir := t.TempDir()
	log := filepath.Join(dir, "actions.log")
	restart := filepath.Join(dir, "restart")
	reboot := filepath.Join(dir, "reboot")
	// Bad_DU fails to restart: the batch must stop there.
	require.NoError(t, os.WriteFile(restart, []byte("#!/bin/sh\n[ \"$1\" = Bad_DU ] && { echo \"$1 failed to start\" >&2; exit 1; }\necho \"restart $1\" >>"+log+"\necho restarted $1\n"), 0o755))
	require.NoError(t, os.WriteFile(reboot, []byte("#!/bin/sh\necho reboot >>"+log+"\n"), 0o755))
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{
		KeyOptions: `command="` + forced + `",environment="FECD_RESTART_CMD=` + restart + `",environment="FECD_REBOOT_CMD=` + reboot + `",restrict`,
	})
	return &fakeFEC{sshd: sshd, log: log}
}

func (f *fakeFEC) actions(t *testing.T) []string {
	data, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestForcedCommandRefusesOthers(t *testing.T) {
	t.Parallel()
	f := startFakeFEC(t)
	for _, cmd := range []string{"rm -rf /", "restart a b", "restart ../../bin/sh", "restart Foo;reboot", "reboot now"} {
		out, err := f.sshd.Run(t, cmd)
		require.Error(t, err, "%q was allowed: %s", cmd, out)
		assert.Contains(t, out, "refused", cmd)
	}
	assert.Empty(t, f.actions(t), "a refused command ran")
	out, err := f.sshd.Run(t, "restart Foo_DU")
	require.NoError(t, err, out)
	assert.Equal(t, []string{"restart Foo_DU"}, f.actions(t))
}

func TestRestartAndRebootInBatches(t *testing.T) {
	t.Parallel()
	f := startFakeFEC(t)
	rm := &service.Remote{Key: f.sshd.ClientKey, KnownHosts: f.sshd.KnownHosts, User: f.sshd.User, Port: f.sshd.Port, Host: "127.0.0.1"}
	e := newEnv(t, sqliteDSN(t), service.Options{Remote: rm, BatchSize: 2}, "fec01", "fec02", "fec03")
	code, body := e.publish(t, "Foo_DU", "1.0.0", "fec01,fec02,fec03")
	require.Equal(t, http.StatusOK, code, string(body))

	// restart on every FEC that links Foo_DU, two at a time
	code, body = e.do(t, http.MethodPost, "/api/v1/restart", e.token, service.RestartRequest{Software: "Foo_DU"})
	require.Equal(t, http.StatusOK, code, string(body))
	var ans service.BatchAnswer
	require.NoError(t, json.Unmarshal(body, &ans))
	require.Len(t, ans.Outcomes, 3)
	assert.Equal(t, []int{1, 1, 2}, []int{ans.Outcomes[0].Batch, ans.Outcomes[1].Batch, ans.Outcomes[2].Batch})
	assert.Equal(t, []string{"restart Foo_DU", "restart Foo_DU", "restart Foo_DU"}, f.actions(t))

	// a failure stops the batches after the failing one
	code, body = e.do(t, http.MethodPost, "/api/v1/restart", e.token, service.RestartRequest{Service: "Bad_DU", FECs: []string{"fec01", "fec02", "fec03"}, Batch: 1})
	require.Equal(t, http.StatusBadGateway, code, string(body))
	ans = service.BatchAnswer{}
	require.NoError(t, json.Unmarshal(body, &ans))
	assert.False(t, ans.OK)
	assert.True(t, ans.Outcomes[0].Ran)
	assert.Contains(t, ans.Outcomes[0].Error, "Bad_DU failed to start")
	assert.False(t, ans.Outcomes[1].Ran)
	assert.False(t, ans.Outcomes[2].Ran)

	// reboot (simulated), answered before it happens
	code, body = e.do(t, http.MethodPost, "/api/v1/reboot", e.token, service.RebootRequest{FECs: []string{"fec02"}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Eventually(t, func() bool { return len(f.actions(t)) == 4 }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, "reboot", f.actions(t)[3])

	// every result is an audit record
	var restarts, reboots, failed int
	for _, a := range e.audits(t) {
		switch a.Action {
		case "restart":
			restarts++
		case "reboot":
			reboots++
		}
		if (a.Action == "restart" || a.Action == "reboot") && !a.OK {
			failed++
		}
	}
	assert.Equal(t, 6, restarts)
	assert.Equal(t, 1, reboots)
	assert.Equal(t, 3, failed)

	// unknown FEC: nothing runs
	code, body = e.do(t, http.MethodPost, "/api/v1/reboot", e.token, service.RebootRequest{FECs: []string{"fec01", "fec99"}})
	assert.Equal(t, http.StatusNotFound, code, string(body))
	assert.Len(t, f.actions(t), 4)
}
