package examples

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/internal/nginxconf"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// indexCacheSeconds is what caching-proxy.conf documents for INDEX and INDEX.sig:
// valid 2 s, counted in whole seconds by nginx.
const indexCacheSeconds = 3

// cachingProxyConf returns a complete nginx.conf around
// examples/nginx/caching-proxy.conf on 127.0.0.1:port in front of origin.
func cachingProxyConf(t *testing.T, dir string, port int, origin string) string {
	t.Helper()
	site, err := os.ReadFile("nginx/caching-proxy.conf")
	require.NoError(t, err)
	conf, err := nginxconf.CachingProxy(string(site), dir, fmt.Sprintf("127.0.0.1:%d", port), origin)
	require.NoError(t, err)
	return conf
}

// The caching proxy example is valid nginx.
func TestCachingProxyConfig(t *testing.T) {
	t.Parallel()
	nginx := testenv.RequireTool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	conf := cachingProxyConf(t, dir, 1, "http://127.0.0.1:2")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	out, err := exec.Command(nginx, "-t", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir+"/").CombinedOutput()
	require.NoError(t, err, "nginx -t:\n%s", out)
}

func get(t *testing.T, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// A storm of FECs behind the proxy: the origin sends an archive once while
// five clients fetch it at the same moment; a changed INDEX is seen through
// the proxy within the documented seconds; Range requests get 206 from the
// cache; only GET and HEAD pass.
func TestCachingProxyStorm(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	archive := make([]byte, 8<<20)
	_, err := rand.Read(archive)
	require.NoError(t, err)
	const archPath = "software/big/1.0.0/big-1.0.0-x86_64.tar.zst"
	testkit.WriteTree(t, root, map[string]string{
		archPath:           string(archive),
		"fecs/scu01/INDEX": "one\n",
	})
	// The origin rate-limits its answers so the five requests overlap.
	origin := testenv.StartNginx(t, root, testenv.NginxOptions{Extra: "limit_rate 4m;"})
	site, err := os.ReadFile("nginx/caching-proxy.conf")
	require.NoError(t, err)
	proxy := testenv.StartCachingProxy(t, string(site), origin.URL).URL

	want := sha256.Sum256(archive)
	var wg sync.WaitGroup
	sums := make([][32]byte, 5)
	codes := make([]int, 5)
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(proxy + "/" + archPath)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			_, err = io.Copy(h, resp.Body)
			assert.NoError(t, err)
			codes[i] = resp.StatusCode
			copy(sums[i][:], h.Sum(nil))
		}()
	}
	wg.Wait()
	for i := range sums {
		assert.Equal(t, http.StatusOK, codes[i], "client %d", i)
		assert.Equal(t, want, sums[i], "client %d got other bytes", i)
	}
	originFetches := func() int { return strings.Count(origin.AccessLog(), "GET /"+archPath) }
	assert.Equal(t, 1, originFetches(), "origin served the archive more than once:\n%s", origin.AccessLog())

	// A resumed download: 206 from the cache, the right bytes, no origin request.
	resp, body := get(t, proxy+"/"+archPath, http.Header{"Range": {"bytes=1000-1999"}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, archive[1000:2000], body)
	assert.Equal(t, "HIT", resp.Header.Get("X-Cache-Status"))
	assert.Equal(t, 1, originFetches())
	// A resume as the clients send it, If-Range with the ETag they saw: 206.
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag, "the proxy passes the origin's ETag")
	resp, body = get(t, proxy+"/"+archPath, http.Header{"Range": {"bytes=8000000-"}, "If-Range": {etag}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, archive[8000000:], body)
	// The first request for an archive is a Range request (a FEC resuming
	// what it had from another server): the right bytes, 206 or the whole file.
	const other = "software/big/1.0.1/big-1.0.1-x86_64.tar.zst"
	testkit.WriteTree(t, root, map[string]string{other: string(archive)})
	resp, body = get(t, proxy+"/"+other, http.Header{"Range": {"bytes=1000-1999"}})
	switch resp.StatusCode {
	case http.StatusPartialContent:
		assert.Equal(t, archive[1000:2000], body)
	case http.StatusOK:
		assert.Equal(t, archive, body)
	default:
		t.Errorf("first Range request through the proxy: %s", resp.Status)
	}
	t.Logf("first Range request through the proxy: %s", resp.Status)

	// INDEX: a change on the origin is visible through the proxy within the documented seconds.
	resp, body = get(t, proxy+"/fecs/scu01/INDEX", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "one\n", string(body))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	testkit.WriteTree(t, root, map[string]string{"fecs/scu01/INDEX": "two\n"})
	changed := time.Now()
	for {
		_, body = get(t, proxy+"/fecs/scu01/INDEX", nil)
		if string(body) == "two\n" {
			break
		}
		// +2 s: the polling and a loaded machine.
		require.Less(t, time.Since(changed), (indexCacheSeconds+2)*time.Second, "proxy still serves the old INDEX")
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("changed INDEX seen through the proxy after %v", time.Since(changed).Round(time.Millisecond))

	// Only GET and HEAD.
	req, err := http.NewRequest(http.MethodHead, proxy+"/"+archPath, nil)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, fmt.Sprint(len(archive)), resp.Header.Get("Content-Length"))
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(m, proxy+"/"+archPath, strings.NewReader("x"))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", m)
	}
	assert.NotContains(t, origin.AccessLog(), "POST ", "a write reached the origin")
	assert.Equal(t, 1, originFetches())
}
