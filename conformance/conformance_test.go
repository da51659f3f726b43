// Package conformance checks that the two boot clients agree: one table of
// boot scenarios runs against the Go client (fec.Boot) and fec-boot.sh
// (busybox, busybox-only PATH), both served the same storage by a real
// nginx, and requires the same files on disk (type, mode, sha256, symlink
// target), status file (exit code, entries, scripts) and exit code.
package conformance

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client boots a FEC from base into root and returns its exit code.
type client interface {
	name() string
	// boot runs one boot; keys is a PEM file of trusted INDEX signing keys ("" = none).
	boot(t *testing.T, base, fecName, root, keys string, o options) int
}

// options are the FEC settings a scenario changes from the defaults.
type options struct {
	dropPrevious      bool   // keep_previous=false
	allowHTTPRedirect bool   // allow_http_redirect=true
	caFile            string // ca_file (the https front's certificate)
}

// scriptTimeout is both clients' script_timeout in the scenarios. It leaves
// room for the Go client's 2 s WaitDelay in script-daemon-keeps-output on a
// busy machine (see runScript: the wait counts against the timeout).
const scriptTimeout = 5 * time.Second

type goClient struct{}

func (goClient) name() string { return "go" }
func (goClient) boot(t *testing.T, base, fecName, root, keys string, o options) int {
	cfg := fec.Config{BaseURL: base, FEC: fecName, Root: root,
		AllowedRoots: []string{"opt"}, Retries: -1, ScriptOutput: io.Discard, ScriptTimeout: scriptTimeout,
		DropPrevious: o.dropPrevious, AllowHTTPRedirect: o.allowHTTPRedirect, CAFile: o.caFile}
	if keys != "" {
		ks, err := index.ParsePublicKeys([]byte(testkit.ReadFile(t, keys)))
		require.NoError(t, err)
		cfg.PublicKeys = ks
	}
	_, err := fec.Boot(context.Background(), cfg)
	return fec.ExitCode(err)
}

type shellClient struct{ sh *clienttest.Shell }

func (shellClient) name() string { return "shell" }
func (c shellClient) boot(t *testing.T, base, fecName, root, keys string, o options) int {
	r := c.sh.Run(t, []string{"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_START_JITTER=0",
		"FECDEPLOY_RETRIES=0", "FECDEPLOY_PUBLIC_KEYS=" + keys, fmt.Sprintf("FECDEPLOY_SCRIPT_TIMEOUT=%d", int(scriptTimeout.Seconds())),
		fmt.Sprintf("FECDEPLOY_KEEP_PREVIOUS=%t", !o.dropPrevious), fmt.Sprintf("FECDEPLOY_ALLOW_HTTP_REDIRECT=%t", o.allowHTTPRedirect),
		"FECDEPLOY_CA_FILE=" + o.caFile}, "--url", base, "--fec", fecName, "--root", root, "--allowed-roots", "opt")
	if testing.Verbose() {
		t.Logf("shell client:\n%s%s", r.Stdout, r.Stderr)
	}
	return r.Code
}

// outcome is what must be equal between the clients.
type outcome struct {
	Code    int
	Files   map[string]string // testkit.Snapshot of the root: type, mode, sha256 or link target
	Status  string            // the compared status fields
	Entries []string
}

type statusFile struct {
	ExitCode int `json:"exit_code"`
	Entries  []struct {
		Kind, Name, Action string
	} `json:"entries"`
	Scripts []struct {
		Name     string `json:"name"`
		Action   string `json:"action"`
		ExitCode int    `json:"exit_code"`
	} `json:"scripts"`
}

func observe(t *testing.T, root string, code int) outcome {
	t.Helper()
	o := outcome{Code: code, Files: testkit.Snapshot(t, root, testkit.SnapshotOptions{Skip: func(rel string) bool {
		return rel == "var/lib/fecdeploy/staging" || rel == "var/lib/fecdeploy/status.json"
	}})}
	// Modes compare whole, sticky, setuid and setgid bits included: both
	// clients clamp them the same way.
	delete(o.Files, ".")
	b, err := os.ReadFile(filepath.Join(root, "var/lib/fecdeploy/status.json"))
	if err != nil {
		o.Status = "no status file"
		return o
	}
	var st statusFile
	require.NoError(t, json.Unmarshal(b, &st), "status file:\n%s", b)
	o.Status = fmt.Sprintf("exit_code=%d", st.ExitCode)
	for _, e := range st.Entries {
		o.Entries = append(o.Entries, e.Kind+" "+e.Name+" "+e.Action)
	}
	for _, s := range st.Scripts {
		o.Entries = append(o.Entries, fmt.Sprintf("script %s %s exit=%d", s.Name, s.Action, s.ExitCode))
	}
	return o
}

// scenario: each step changes the storage (for this scenario's FEC), then
// both clients boot; want is the exit code expected after every step.
type scenario struct {
	name  string
	steps []func(t *testing.T, st *clienttest.Storage, fec string)
	want  []int
	// known documents an accepted difference (the outcome is not compared).
	known string
	// keys is a PEM file of trusted signing keys for both clients.
	keys string
	// prepare puts files of the FEC's own into both roots before the first step.
	prepare func(t *testing.T, root string)
	// opts are the settings both clients boot with.
	opts options
	// https boots through an https front that redirects every request to
	// the (plain http) nginx. The shell FEC then has curl: this busybox's
	// wget speaks no TLS (an https FEC needs curl or a TLS-enabled wget).
	https bool
}

// runScenarios lays out every step's storage, serves it with one nginx and
// runs the scenarios in parallel; within a step both clients boot at once,
// each into a root of its own.
func runScenarios(t *testing.T, scenarios []scenario, st *clienttest.Storage) {
	// The shell FEC has zstd (a Yocto image with the zstd package); the
	// client tests cover the error without it.
	sh := clienttest.NewShell(t, "zstd", "openssl")
	goc, shc := goClient{}, shellClient{sh}
	shcTLS := shellClient{clienttest.NewShell(t, "zstd", "openssl", "curl")}
	// Multi-step scenarios use one FEC name per step and share the roots.
	for _, sc := range scenarios {
		for i, step := range sc.steps {
			step(t, st, fecName(sc.name, i))
		}
	}
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	front, ca := httpsFront(t, ng.URL)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			goRoot, shellRoot := t.TempDir(), t.TempDir()
			if sc.prepare != nil {
				sc.prepare(t, goRoot)
				sc.prepare(t, shellRoot)
			}
			base, shc := ng.URL, shc
			if sc.https {
				base, shc = front, shcTLS
				sc.opts.caFile = ca
			}
			for i := range sc.steps {
				fec := fecName(sc.name, i)
				var shellCode int
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					shellCode = shc.boot(t, base, fec, shellRoot, sc.keys, sc.opts)
				}()
				goCode := goc.boot(t, base, fec, goRoot, sc.keys, sc.opts)
				wg.Wait()
				g, s := observe(t, goRoot, goCode), observe(t, shellRoot, shellCode)
				if sc.known != "" {
					t.Logf("step %d: known difference (%s): go exit %d, shell exit %d", i, sc.known, g.Code, s.Code)
					assert.False(t, s.Code == 0 && g.Code == 0, "step %d: both clients accept it now; remove it from the known differences", i)
					continue
				}
				if sc.want[i] >= 0 {
					assert.Equal(t, sc.want[i], g.Code, "step %d: go client exit code", i)
				}
				assert.Equal(t, g.Code, s.Code, "step %d: exit codes (go, shell)", i)
				assert.Equal(t, g.Status, s.Status, "step %d: status (go, shell)", i)
				assert.Equal(t, g.Files, s.Files, "step %d: files (go, shell)", i)
				assert.Equal(t, g.Entries, s.Entries, "step %d: status entries and scripts (go, shell)", i)
			}
		})
	}
}

// fecName maps a scenario and a step to a FEC of its own in the storage.
func fecName(scenario string, step int) string {
	return fmt.Sprintf("%s-%d", scenario, step)
}

// httpsFront starts an https server that redirects every request to the same
// path on target (plain http) and returns its URL and a PEM file of its
// certificate.
func httpsFront(t *testing.T, target string) (string, string) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "front.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	return srv.URL, ca
}
