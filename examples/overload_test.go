package examples

import (
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The production site (examples/nginx/fecdeploy.conf) answers a boot storm
// beyond its server-wide limit with 503 and Retry-After: 5, and a single
// address that loops with 429 and Retry-After: 2, both with a short text;
// once the storm has passed, it serves again. Here the limit is 1 request in
// flight and an archive is sent slowly, so the second request meets it.
func TestNginxSiteOverload(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	blob := make([]byte, 2<<20)
	_, err := rand.Read(blob)
	require.NoError(t, err)
	for p, data := range map[string][]byte{"software/A/1.0.0/A-1.0.0.tar.zst": blob, "fecs/fec01/INDEX": []byte("fecdeploy-index 1 fec=fec01 arch=x86_64\n")} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), data, 0o644))
	}
	site, err := os.ReadFile("nginx/fecdeploy.conf")
	require.NoError(t, err)
	conf := string(site)
	for _, r := range [][2]string{
		{"limit_conn fecdeploy_total 256;", "limit_conn fecdeploy_total 1;"},
		{"autoindex off;", "autoindex off;\n    limit_rate 1m;"}, // the archive takes 2 s
	} {
		require.Contains(t, conf, r[0])
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	ng := testenv.StartOrigin(t, conf, root)

	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(ng.URL + "/software/A/1.0.0/A-1.0.0.tar.zst")
		if err != nil {
			slow <- 0
			return
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slow <- int(n)
	}()
	// While the archive is on its way, the INDEX is refused.
	var resp *http.Response
	var body []byte
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, body = get(t, ng.URL+"/fecs/fec01/INDEX", nil)
		if resp.StatusCode != http.StatusOK {
			break
		}
	}
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))
	assert.Contains(t, string(body), "retry later")
	require.Equal(t, len(blob), <-slow, "the archive in flight is served whole")
	resp, body = get(t, ng.URL+"/fecs/fec01/INDEX", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "served again after the storm: %s", body)
	assert.Empty(t, resp.Header.Get("Retry-After"), "no Retry-After on a 200")

	// One address asking far faster than a boot does (50/s, a burst of 200
	// allowed): 429 with Retry-After 2.
	var n429 int
	for i := 0; i < 400 && n429 == 0; i++ {
		resp, body = get(t, ng.URL+"/fecs/fec01/INDEX", nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			n429++
			assert.Equal(t, "2", resp.Header.Get("Retry-After"))
			assert.Contains(t, string(body), "retry later")
		}
	}
	assert.Equal(t, 1, n429, "a looping address gets 429")
}
