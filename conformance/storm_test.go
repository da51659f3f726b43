package conformance

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stormFECs is the smoke size of the boot storm: the benchmark (make
// bench-storm) runs hundreds over shaped links; the test runs a few,
// unshaped, on every `go test`.
const stormFECs = 5

// A small boot storm: four separate fec-boot processes and one fec-boot.sh
// under busybox boot at the same moment, each FEC into a root of its own,
// with no start jitter: from one real nginx, and from two caching proxies
// (examples/nginx/caching-proxy.conf) in front of it. Every boot succeeds
// and all five installed trees are identical; behind the proxies the origin
// sends each archive once per proxy.
func TestStormSmoke(t *testing.T) {
	t.Parallel()
	for _, proxies := range []int{0, 2} {
		t.Run(fmt.Sprintf("proxies=%d", proxies), func(t *testing.T) {
			t.Parallel()
			stormSmoke(t, proxies, false)
		})
	}
}

// A storm against the production site (examples/nginx/fecdeploy.conf) whose
// server-wide limit is down to two requests in flight, each archive sent
// slowly: most requests get 503 with Retry-After (1 s here), many times in a
// row. The clients, allowed a single retry per request, must keep honouring
// Retry-After until their deadline instead of giving up after their retries,
// and every FEC boots.
func TestStormOverload(t *testing.T) {
	t.Parallel()
	stormSmoke(t, 0, true)
}

// binDir holds the binaries the tests build; TestMain removes it.
var binDir string

var makeBinDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "fecdeploy-conformance-")
	binDir = dir
	return dir, err
})

// buildFECBoot builds cmd/fec-boot (with the build tags, if any) as name.
func buildFECBoot(name string, tags ...string) (string, error) {
	dir, err := makeBinDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	if out, err := exec.Command("go", append(args, "../cmd/fec-boot")...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building fec-boot: %w\n%s", err, out)
	}
	return bin, nil
}

// fecBootBin is cmd/fec-boot as shipped, built once for the package's tests.
var fecBootBin = sync.OnceValues(func() (string, error) { return buildFECBoot("fec-boot") })

// fecBootClockBin is cmd/fec-boot built with -tags fectestclock: its clock
// can be set (FECDEPLOY_TEST_CLOCK, cmd/fec-boot/testclock.go).
var fecBootClockBin = sync.OnceValues(func() (string, error) {
	return buildFECBoot("fec-boot-testclock", "fectestclock")
})

func stormSmoke(t *testing.T, proxies int, overload bool) {
	bin, err := fecBootBin()
	require.NoError(t, err)
	tools := []string{"zstd", "openssl"}
	if overload {
		tools = append(tools, "curl") // busybox wget cannot see Retry-After
	}
	sh := clienttest.NewShell(t, tools...)

	// The same software for every FEC, as after an accelerator-wide release.
	st := clienttest.NewStorage(t)
	blob := make([]byte, 1<<20)
	_, err = rand.Read(blob)
	require.NoError(t, err)
	fecs := make([]string, stormFECs)
	for i := range fecs {
		fecs[i] = fmt.Sprintf("storm%02d", i)
		for _, du := range []string{"Alpha_DU", "Beta_DU", "Gamma_DU"} {
			st.Archive(t, fecs[i], index.KindSoftware, du, "1.0.0", index.FormatZstd,
				clienttest.Tree("opt/fesa/"+du+"/1.0.0", map[string]string{"bin/" + du: string(blob), "etc/" + du + ".xml": "<" + du + "/>\n"}))
		}
		st.Init(t, fecs[i], "10-start", "#!/bin/sh\necho started > \"$FECDEPLOY_ROOT/opt/started\"\n")
		st.WriteIndex(t, fecs[i], nil)
	}
	var ng *testenv.Nginx
	var goLimits, shLimits []string
	if overload {
		// A request may be retried once; the boot has a deadline of its own.
		goLimits = []string{"--retries", "1", "--retry-wait-max", "1s", "--deadline", "2m"}
		shLimits = []string{"FECDEPLOY_RETRIES=1", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=120"}
		site, err := os.ReadFile("../examples/nginx/fecdeploy.conf")
		require.NoError(t, err)
		conf := string(site)
		for _, r := range [][2]string{
			{"limit_conn fecdeploy_total 256;", "limit_conn fecdeploy_total 2;"},
			{"add_header Retry-After 5 always;", "add_header Retry-After 1 always;"},
			// an archive (1 MB) takes 1 s: nginx sends the first second's
			// worth at once, then 512 kB/s
			{"autoindex off;", "autoindex off;\n    limit_rate 512k;"},
		} {
			require.Contains(t, conf, r[0])
			conf = strings.Replace(conf, r[0], r[1], 1)
		}
		ng = testenv.StartOrigin(t, conf, st.Dir)
	} else {
		ng = testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	}
	urls := []string{ng.URL}
	var proxyLogs []func() string
	if proxies > 0 {
		site, err := os.ReadFile("../examples/nginx/caching-proxy.conf")
		require.NoError(t, err)
		urls = nil
		for range proxies {
			p := testenv.StartCachingProxy(t, string(site), ng.URL)
			urls = append(urls, p.URL)
			proxyLogs = append(proxyLogs, p.AccessLog)
		}
	}

	roots := make([]string, stormFECs)
	codes := make([]int, stormFECs)
	outs := make([]string, stormFECs)
	took := make([]time.Duration, stormFECs)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range fecs {
		roots[i] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			defer func() { took[i] = time.Since(t0).Round(time.Millisecond) }()
			if i == stormFECs-1 {
				r := sh.Run(t, append([]string{"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_START_JITTER=0"}, shLimits...),
					"--url", urls[i%len(urls)], "--fec", fecs[i], "--root", roots[i])
				codes[i], outs[i] = r.Code, r.Stdout+r.Stderr
				return
			}
			cmd := exec.Command(bin, append([]string{"--url", urls[i%len(urls)], "--fec", fecs[i], "--root", roots[i],
				"--conf", "/dev/null", "--cmdline", "none", "--start-jitter", "0s"}, goLimits...)...)
			var b bytes.Buffer
			cmd.Stdout, cmd.Stderr = &b, &b
			err := cmd.Run()
			codes[i], outs[i] = cmd.ProcessState.ExitCode(), b.String()
			if err != nil && cmd.ProcessState == nil {
				codes[i], outs[i] = -1, err.Error()
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d FECs booted at once in %v (each: %v; the last is fec-boot.sh)", stormFECs, time.Since(began).Round(time.Millisecond), took)

	for i := range fecs {
		require.Equal(t, 0, codes[i], "FEC %s failed:\n%s", fecs[i], outs[i])
	}
	// The installed trees are the same (the status file names the FEC and
	// the times, so it is compared without those).
	want := observe(t, roots[0], codes[0])
	require.NotEmpty(t, want.Files)
	assert.Contains(t, want.Files, "opt/fesa/Gamma_DU/1.0.0/bin/Gamma_DU")
	assert.Contains(t, want.Files, "opt/started")
	for i := 1; i < stormFECs; i++ {
		got := observe(t, roots[i], codes[i])
		assert.Equal(t, want.Files, got.Files, "FEC %s installed another tree", fecs[i])
		assert.Equal(t, want.Entries, got.Entries, "FEC %s", fecs[i])
		assert.Equal(t, want.Status, got.Status, "FEC %s", fecs[i])
	}
	log := ng.AccessLog()
	if overload {
		// The limit was met, again and again: more 503 answers than the one
		// retry each request was allowed, i.e. the clients went on because
		// the server said when to come back.
		n503 := strings.Count(log, "\" 503 ")
		assert.Greater(t, n503, 2*stormFECs, "answers 503:\n%s", log)
		t.Logf("%d answers 503 with Retry-After", n503)
		return
	}
	// Each FEC fetched each archive exactly once: no retries in the storm;
	// behind proxies the origin sent each archive once per proxy.
	for _, du := range []string{"Alpha_DU", "Beta_DU", "Gamma_DU"} {
		if proxies == 0 {
			assert.Equal(t, stormFECs, strings.Count(log, "GET /software/"+du+"/"), "requests for %s:\n%s", du, log)
			continue
		}
		assert.Equal(t, proxies, strings.Count(log, "GET /software/"+du+"/"), "origin requests for %s:\n%s", du, log)
		n := 0
		for _, pl := range proxyLogs {
			n += strings.Count(pl(), "GET /software/"+du+"/")
		}
		assert.Equal(t, stormFECs, n, "proxy requests for %s", du)
	}
}
