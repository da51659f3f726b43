package serve

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testkit"
)

func get(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestServer(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	outside := t.TempDir()
	testkit.WriteTree(t, outside, map[string]string{"secret": "secret"})
	testkit.WriteTree(t, base, map[string]string{
		"software/Foo/1.0.0/Foo.tar.gz": "0123456789",
		"fecs/fec01/software/Foo":       "-> ../../../software/Foo/1.0.0/Foo.tar.gz",
		"fecs/fec01/software/Escape":    "-> " + filepath.Join(outside, "secret"),
		".lock":                         "",
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, "127.0.0.1:0", base, nil)
	require.NoError(t, err)
	defer s.Close()

	resp, body := get(t, "GET", s.URL+"/fecs/fec01/software/Foo", nil)
	require.Equal(t, 200, resp.StatusCode, "symlink inside")
	require.Equal(t, "0123456789", body)
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag, "ETag")
	resp, _ = get(t, "GET", s.URL+"/fecs/fec01/software/Foo", map[string]string{"If-None-Match": etag})
	require.Equal(t, 304, resp.StatusCode, "If-None-Match")
	resp, body = get(t, "GET", s.URL+"/fecs/fec01/software/Foo", map[string]string{"Range": "bytes=4-"})
	require.Equal(t, 206, resp.StatusCode, "Range")
	require.Equal(t, "456789", body, "Range")
	for _, p := range []string{"/fecs/fec01/software/Escape", "/.lock", "/fecs/", "/", "/../etc/passwd", "/nope"} {
		resp, body := get(t, "GET", s.URL+p, nil)
		assert.Equal(t, 404, resp.StatusCode, "GET %s", p)
		assert.NotContains(t, body, "secret", "GET %s", p)
	}
	resp, _ = get(t, "PUT", s.URL+"/x", nil)
	assert.Equal(t, 405, resp.StatusCode, "PUT")
	_, err = os.Lstat(filepath.Join(base, "x"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "PUT wrote a file")
}
