package service_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/service"
	"github.com/fair-acc/fecdeploy/storage"
)

func TestAPISQLite(t *testing.T) {
	t.Parallel()
	apiSuite(t, sqliteDSN)
}

func TestAPIPostgres(t *testing.T) {
	t.Parallel()
	apiSuite(t, func(t testing.TB) string { return testenv.PostgresDSN(t) })
}

// apiSuite is the API run against one database kind.
func apiSuite(t *testing.T, dsn func(testing.TB) string) {
	t.Run("release", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, dsn(t), service.Options{}, "fec01", "fec02")
		v := e.fleet(t)
		assert.Equal(t, service.StateNever, v["fec01"].State)

		code, body := e.publish(t, "Foo_DU", "1.0.0", "fec01,fec02")
		require.Equal(t, http.StatusOK, code, string(body))
		var ans service.PublishAnswer
		require.NoError(t, json.Unmarshal(body, &ans))
		assert.Equal(t, []string{"fec01", "fec02"}, ans.Linked)
		assert.FileExists(t, e.dir+"/"+ans.Published.Path)

		// the FEC reports the INDEX it booted: up to date
		sha := e.indexSHA(t, "fec01")
		code, body = e.do(t, http.MethodPost, "/api/v1/fecs/fec01/report", "", statusJSON("fec01", sha, 0,
			map[string]any{"kind": "software", "name": "Foo_DU", "version": "1.0.0", "action": "installed", "dev": false}))
		require.Equal(t, http.StatusOK, code, string(body))
		v = e.fleet(t)
		assert.Equal(t, service.StateUpToDate, v["fec01"].State)
		assert.Equal(t, "1.0.0", v["fec01"].Actual["Foo_DU"])
		assert.Equal(t, "1.0.0", v["fec01"].Desired["Foo_DU"])
		assert.Equal(t, service.StateNever, v["fec02"].State)

		// a new version, switched: fec01 is behind until it boots again
		code, body = e.publish(t, "Foo_DU", "1.1.0", "")
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = e.do(t, http.MethodPost, "/api/v1/switch", e.token, service.SwitchRequest{Software: "Foo_DU", Version: "1.1.0", FECs: []string{"fec01"}})
		require.Equal(t, http.StatusOK, code, string(body))
		v = e.fleet(t)
		assert.Equal(t, service.StateBehind, v["fec01"].State)
		assert.Equal(t, "1.1.0", v["fec01"].Desired["Foo_DU"])

		// rollback, then all FECs switched
		code, body = e.do(t, http.MethodPost, "/api/v1/rollback", e.token, service.RollbackRequest{FEC: "fec01", Software: "Foo_DU"})
		require.Equal(t, http.StatusOK, code, string(body))
		var sw storage.SwitchResult
		require.NoError(t, json.Unmarshal(body, &sw))
		assert.Equal(t, "1.0.0", sw.To)
		code, body = e.do(t, http.MethodPost, "/api/v1/switch", e.token, service.SwitchRequest{Software: "Foo_DU", Version: "1.1.0", All: true})
		require.Equal(t, http.StatusOK, code, string(body))

		// link a configuration-less third version by the link endpoint
		code, body = e.publish(t, "Bar_DU", "2.0.0", "")
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = e.do(t, http.MethodPost, "/api/v1/link", e.token, service.LinkRequest{FECs: []string{"fec02"}, Name: "Bar_DU", Version: "2.0.0"})
		require.Equal(t, http.StatusOK, code, string(body))

		// prune: plan and apply (nothing to remove with 2 versions, but the calls go through)
		code, body = e.do(t, http.MethodPost, "/api/v1/prune/plan", e.token, service.PruneRequest{Software: "Foo_DU"})
		require.Equal(t, http.StatusOK, code, string(body))
		assert.Contains(t, string(body), `"1.0.0"`)
		code, body = e.do(t, http.MethodPost, "/api/v1/prune/apply", e.token, service.PruneRequest{Software: "Foo_DU"})
		require.Equal(t, http.StatusOK, code, string(body))

		// the software view, releases and audit
		code, body = e.do(t, http.MethodGet, "/api/v1/software/Foo_DU", "", nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var sv struct { // service.SoftwareView without the plan (version.Action only marshals)
			Uses     []storage.Use
			Running  map[string]string
			Releases []service.Release
		}
		require.NoError(t, json.Unmarshal(body, &sv))
		assert.Len(t, sv.Uses, 2)
		assert.Equal(t, "1.0.0", sv.Running["fec01"])
		require.Len(t, sv.Releases, 2)
		assert.Equal(t, "alice", sv.Releases[0].Actor)
		assert.Equal(t, "1.1.0", sv.Releases[0].Version)

		actions := map[string]int{}
		for _, a := range e.audits(t) {
			actions[a.Action]++
			if a.Action != "rebuild" {
				assert.Equal(t, "alice", a.Actor)
			}
		}
		assert.Equal(t, 3, actions["publish"])
		assert.Equal(t, 1, actions["rollback"])
		assert.GreaterOrEqual(t, actions["switch"], 3)
		assert.Equal(t, 3, actions["link"])

		// the storage stays consistent
		rep, err := e.st.Verify(context.Background())
		require.NoError(t, err)
		assert.True(t, rep.OK(), "%v", rep.Problems)
	})

	t.Run("rebuild after losing the database", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, dsn(t), service.Options{}, "fec01")
		code, body := e.publish(t, "Foo_DU", "1.0.0", "fec01")
		require.Equal(t, http.StatusOK, code, string(body))
		e.stop()
		if strings.HasPrefix(e.dsn, "postgres") {
			e.dsn = testenv.PostgresDSN(t) // a new, empty database
		} else {
			require.NoError(t, os.Remove(e.dsn))
		}
		e.start(t, service.Options{})
		rel, err := e.db.Releases(context.Background(), "Foo_DU", 0)
		require.NoError(t, err)
		require.Len(t, rel, 1)
		assert.Equal(t, "storage", rel[0].Actor)
		assert.Equal(t, []string{"fec01"}, rel[0].FECs)
		a := e.audits(t)
		require.NotEmpty(t, a)
		assert.Equal(t, "rebuild", a[0].Action)
		assert.Contains(t, a[0].Detail, "1 FECs")
		code, page := e.do(t, http.MethodGet, "/", "", nil)
		require.Equal(t, http.StatusOK, code)
		assert.Contains(t, string(page), `id="rebuilt"`)
		// old tokens are gone with the database
		code, _ = e.do(t, http.MethodPost, "/api/v1/switch", e.token, service.SwitchRequest{Software: "Foo_DU", Version: "1.0.0", All: true})
		assert.Equal(t, http.StatusUnauthorized, code)
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, dsn(t), service.Options{MaxUpload: 32 << 20}, "fec01")
		code, body := e.publish(t, "Foo_DU", "1.0.0", "fec01")
		require.Equal(t, http.StatusOK, code, string(body))
		before := snap(t, e.dir)
		auditsBefore := len(e.audits(t))
		data := archive(t, "Foo_DU", "1.1.0")

		cases := []struct {
			name, method, path, token string
			body                      any
			code                      int
			msg                       string
		}{
			{"publish without token", "PUT", "/api/v1/publish/software/Foo_DU/1.1.0?arch=x86_64&sha256=" + sum(data), "", data, 401, "token is required"},
			{"publish with a wrong token", "PUT", "/api/v1/publish/software/Foo_DU/1.1.0?arch=x86_64&sha256=" + sum(data), "fecd_nope", data, 401, "not known"},
			{"switch without token", "POST", "/api/v1/switch", "", service.SwitchRequest{Software: "Foo_DU", Version: "1.0.0", All: true}, 401, "token is required"},
			{"restart without token", "POST", "/api/v1/restart", "", service.RestartRequest{Software: "Foo_DU"}, 401, "token is required"},
			{"reboot without token", "POST", "/api/v1/reboot", "", service.RebootRequest{FECs: []string{"fec01"}}, 401, "token is required"},
			{"sha256 mismatch", "PUT", "/api/v1/publish/software/Foo_DU/1.1.0?arch=x86_64&sha256=" + strings.Repeat("0", 64), e.token, data, 400, "sha256 mismatch"},
			{"no sha256", "PUT", "/api/v1/publish/software/Foo_DU/1.1.0?arch=x86_64", e.token, data, 400, "sha256="},
			{"upload over the limit", "PUT", "/api/v1/publish/software/Foo_DU/1.1.0?arch=x86_64&sha256=" + sum(data), e.token, zeros(1 << 30), 413, "exceeds the limit"},
			{"report for an unknown FEC", "POST", "/api/v1/fecs/fec99/report", "", statusJSON("fec99", "x", 0), 404, "not in the storage"},
			{"report with garbage JSON", "POST", "/api/v1/fecs/fec01/report", "", []byte(`{"fec": "fec01", "exit_code": `), 400, "not a status JSON"},
			{"report naming another FEC", "POST", "/api/v1/fecs/fec01/report", "", statusJSON("fec02", "x", 0), 400, "boot status of FEC"},
			{"report of 1 GB", "POST", "/api/v1/fecs/fec01/report", "", zeros(1 << 30), 413, "exceeds the limit"},
			{"JSON of 1 GB", "POST", "/api/v1/switch", e.token, zeros(1 << 30), 413, "exceeds the limit"},
			{"garbage JSON request", "POST", "/api/v1/switch", e.token, []byte(`{"software": `), 400, "not the expected JSON"},
			{"unknown field", "POST", "/api/v1/switch", e.token, []byte(`{"software": "Foo_DU", "versoin": "1"}`), 400, "unknown field"},
			{"link to unknown FEC", "PUT", "/api/v1/publish/software/Foo_DU/1.1.0?arch=x86_64&link=fec99&sha256=" + sum(data), e.token, data, 404, "not in the storage"},
			{"restart: bad service name", "POST", "/api/v1/restart", e.token, service.RestartRequest{Software: "Foo_DU", Service: "x; reboot"}, 400, "service name"},
		}
		for _, c := range cases {
			code, body := e.do(t, c.method, c.path, c.token, c.body)
			assert.Equal(t, c.code, code, "%s: %s", c.name, body)
			assert.Contains(t, string(body), c.msg, c.name)
		}
		assert.Equal(t, before, snap(t, e.dir), "the storage changed")
		// refused publishes are recorded (who tried what); nothing else is
		for _, a := range e.audits(t)[:len(e.audits(t))-auditsBefore] {
			assert.Equal(t, "publish", a.Action)
			assert.False(t, a.OK)
		}
		_, ok, err := e.db.Report(context.Background(), "fec01")
		require.NoError(t, err)
		assert.False(t, ok, "a refused report was stored")
	})
}

// zeros is a body of n zero bytes with a known length (Content-Length).
func zeros(n int64) *zeroReader { return &zeroReader{n: n} }

type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}
