package faultproxy_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testenv/faultproxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url string, header ...string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestFaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		_ = os.Remove(p) // a new inode, as the writer's renames make
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	write("a", "version one of a")
	write("b", "bbbbbbbbbb")
	ng := testenv.StartNginx(t, dir, testenv.NginxOptions{})
	p := faultproxy.Start(t, ng.URL)

	_, body, err := get(t, p.URL+"/a")
	require.NoError(t, err)
	assert.Equal(t, "version one of a", body, "no rule: forwarded")

	// Replay: a recorded older answer, served after the file changed.
	old := p.Record(t, "/a")
	write("a", "version two of a")
	p.Set(&faultproxy.Rule{Kind: faultproxy.Replay, Recorded: old})
	_, body, err = get(t, p.URL+"/a")
	require.NoError(t, err)
	assert.Equal(t, "version one of a", body, "replayed")
	_, body, _ = get(t, p.URL+"/b")
	assert.Equal(t, "bbbbbbbbbb", body, "a path not recorded is forwarded")

	// Freeze: what the upstream has now, whatever it has later.
	p.Set()
	p.Freeze(t, "/a")
	write("a", "version three of a")
	_, body, _ = get(t, p.URL+"/a")
	assert.Equal(t, "version two of a", body, "frozen")

	// Swap.
	p.Set()
	p.Swap("/a", "/b")
	_, body, _ = get(t, p.URL+"/a")
	assert.Equal(t, "bbbbbbbbbb", body)
	_, body, _ = get(t, p.URL+"/b")
	assert.Equal(t, "version three of a", body)

	// Truncate: a complete, shorter answer.
	p.Set(&faultproxy.Rule{Path: "/b", Kind: faultproxy.Truncate, After: 3})
	resp, body, err := get(t, p.URL+"/b")
	require.NoError(t, err)
	assert.Equal(t, "bbb", body)
	assert.Equal(t, int64(3), resp.ContentLength)

	// Cut: broken after 3 body bytes, once (Times).
	p.Set(&faultproxy.Rule{Path: "/b", Times: 1, Kind: faultproxy.Cut, After: 3})
	_, body, err = get(t, p.URL+"/b")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, "bbb", body)
	_, body, err = get(t, p.URL+"/b")
	require.NoError(t, err, "Times: 1")
	assert.Equal(t, "bbbbbbbbbb", body)

	// Stall: 2 bytes, then nothing until the client gives up.
	p.Set(&faultproxy.Rule{Path: "/b", Kind: faultproxy.Stall, After: 2})
	start := time.Now()
	_, body, err = get(t, p.URL+"/b")
	assert.Error(t, err)
	assert.Equal(t, "bb", body)
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "held until the client's timeout")

	// Status with a header; only for Range requests (RangeOnly).
	p.Set(&faultproxy.Rule{RangeOnly: true, Kind: faultproxy.Status, Status: 503, Header: map[string]string{"Retry-After": "7"}})
	resp, _, err = get(t, p.URL+"/b", "Range", "bytes=2-")
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "7", resp.Header.Get("Retry-After"))
	resp, _, _ = get(t, p.URL+"/b")
	assert.Equal(t, 200, resp.StatusCode, "no Range header: forwarded")

	// Stale If-Range: nginx answers the whole file; validators dropped.
	p.Set(&faultproxy.Rule{StaleIfRange: true, DropValidators: true})
	resp, body, _ = get(t, p.URL+"/b", "Range", "bytes=2-", "If-Range", `"whatever"`)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "bbbbbbbbbb", body)
	assert.Empty(t, resp.Header.Get("ETag"))
	assert.Empty(t, resp.Header.Get("Last-Modified"))
	resp, _, _ = get(t, p.URL+"/b", "Range", "bytes=2-")
	assert.Equal(t, 206, resp.StatusCode, "no If-Range: the Range is forwarded")

	// Redirect.
	p.Set(&faultproxy.Rule{Path: "/a", Kind: faultproxy.Redirect, To: "http://elsewhere.invalid/a"})
	resp, _, _ = get(t, p.URL+"/a")
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "http://elsewhere.invalid/a", resp.Header.Get("Location"))

	// Endless: the client stops reading; Sent counts what went out.
	p.Set(&faultproxy.Rule{Kind: faultproxy.Endless})
	sent := p.Sent()
	r, err := http.Get(p.URL + "/x")
	require.NoError(t, err)
	n, err := io.CopyN(io.Discard, r.Body, 1<<20)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, int64(1<<20), n)
	assert.GreaterOrEqual(t, p.Sent()-sent, int64(1<<20))

	// The request log.
	assert.Equal(t, 1, p.Count("/x"))
	reqs := p.Requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, "/x", last.Path)
	assert.Equal(t, faultproxy.Endless, last.Kind)
	assert.Equal(t, "GET /x range= if-range= (endless)", last.String())

	// An upstream that is gone: 502, and the log says why.
	p.Set()
	ng.Stop()
	resp, _, err = get(t, p.URL+"/a")
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	reqs = p.Requests()
	assert.Contains(t, reqs[len(reqs)-1].String(), "upstream failed: ")
}
