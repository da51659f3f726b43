package service_test

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/service"
)

// TestClientsReportAndPages boots one FEC with the Go client and one with
// the shell client (busybox) from nginx; both report to the service. The
// fleet page, rendered by headless Chromium, shows them up to date, then
// behind after a switch.
func TestClientsReportAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqliteDSN(t), service.Options{}, "fec-go", "fec-sh", "fec-none")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		code, body := e.publish(t, "Foo_DU", v, "")
		require.Equal(t, http.StatusOK, code, string(body))
	}
	code, body := e.do(t, http.MethodPost, "/api/v1/link", e.token, service.LinkRequest{FECs: []string{"fec-go", "fec-sh", "fec-none"}, Name: "Foo_DU", Version: "1.0.0"})
	require.Equal(t, http.StatusOK, code, string(body))
	ng := testenv.StartNginx(t, e.dir, testenv.NginxOptions{})

	bootGo := func() {
		st, err := fec.Boot(context.Background(), fec.Config{BaseURL: ng.URL, FEC: "fec-go", Root: t.TempDir(), Retries: -1, Report: e.url})
		require.NoError(t, err)
		require.Equal(t, 0, st.ExitCode)
	}
	sh := clienttest.NewShell(t)
	shRoot := t.TempDir()
	bootShell := func() {
		r := sh.Run(t, []string{"FECDEPLOY_URL=" + ng.URL, "FECDEPLOY_FEC=fec-sh", "FECDEPLOY_ROOT=" + shRoot,
			"FECDEPLOY_CMDLINE=" + writeCmdline(t, "quiet fecdeploy.report="+e.url), "FECDEPLOY_CONF=/dev/null",
			"FECDEPLOY_RETRIES=0", "FECDEPLOY_START_JITTER=0"})
		require.Equal(t, 0, r.Code, r.Stderr)
		assert.NotContains(t, r.Stderr, "not reported")
	}
	bootGo()
	bootShell()
	v := e.fleet(t)
	assert.Equal(t, service.StateUpToDate, v["fec-go"].State)
	assert.Equal(t, service.StateUpToDate, v["fec-sh"].State)
	assert.Equal(t, service.StateNever, v["fec-none"].State)
	assert.Equal(t, "1.0.0", v["fec-sh"].Actual["Foo_DU"])

	dom := testenv.ChromiumDOM(t, e.url+"/")
	assert.Equal(t, map[string]string{"fec-go": "up to date", "fec-sh": "up to date", "fec-none": "never reported"}, fleetRows(t, dom))

	code, body = e.do(t, http.MethodPost, "/api/v1/switch", e.token, service.SwitchRequest{Software: "Foo_DU", Version: "1.1.0", All: true})
	require.Equal(t, http.StatusOK, code, string(body))
	dom = testenv.ChromiumDOM(t, e.url+"/")
	assert.Equal(t, map[string]string{"fec-go": "behind", "fec-sh": "behind", "fec-none": "never reported"}, fleetRows(t, dom))
	shot := testenv.ChromiumScreenshot(t, e.url+"/", "fleet.png", 412, 915) // a phone
	t.Logf("fleet page screenshot: %s", shot)

	bootGo()
	assert.Equal(t, service.StateUpToDate, e.fleet(t)["fec-go"].State)

	// the FEC and software pages
	dom = testenv.ChromiumDOM(t, e.url+"/fec/fec-go")
	assert.Contains(t, dom, `id="state">up to date<`)
	assert.Contains(t, dom, "switch")
	dom = testenv.ChromiumDOM(t, e.url+"/software/Foo_DU")
	assert.Equal(t, 3, strings.Count(dom, `<a href="/fec/fec-`))
	assert.Contains(t, dom, "alice")

	// a service that is down does not delay or fail a boot
	start := time.Now()
	st, err := fec.Boot(context.Background(), fec.Config{BaseURL: ng.URL, FEC: "fec-none", Root: t.TempDir(), Retries: -1, Report: "http://127.0.0.1:1"})
	require.NoError(t, err)
	assert.Equal(t, 0, st.ExitCode)
	assert.Less(t, time.Since(start), 10*time.Second)
	start = time.Now()
	r := sh.Run(t, []string{"FECDEPLOY_URL=" + ng.URL, "FECDEPLOY_FEC=fec-none", "FECDEPLOY_ROOT=" + t.TempDir(),
		"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_RETRIES=0", "FECDEPLOY_START_JITTER=0",
		"FECDEPLOY_REPORT=http://127.0.0.1:1"})
	assert.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "status not reported to http://127.0.0.1:1 (the boot is not affected)")
	assert.Less(t, time.Since(start), 20*time.Second)
}

var rowRE = regexp.MustCompile(`<tr class="fec" data-fec="([^"]+)" data-state="([^"]+)"`)

// fleetRows returns FEC -> state from the fleet page's DOM.
func fleetRows(t *testing.T, dom string) map[string]string {
	out := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(dom, -1) {
		out[m[1]] = m[2]
	}
	require.NotEmpty(t, out, "no fleet rows in the DOM:\n%s", dom)
	return out
}

func writeCmdline(t *testing.T, line string) string {
	p := filepath.Join(t.TempDir(), "cmdline")
	testkitWrite(t, p, line+"\n")
	return p
}
