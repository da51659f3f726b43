package serve

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func get(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServer(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(base, "software/Foo/1.0.0"), 0o755))
	must(os.MkdirAll(filepath.Join(base, "fecs/fec01/software"), 0o755))
	must(os.WriteFile(filepath.Join(base, "software/Foo/1.0.0/Foo.tar.gz"), []byte("0123456789"), 0o644))
	must(os.Symlink("../../../software/Foo/1.0.0/Foo.tar.gz", filepath.Join(base, "fecs/fec01/software/Foo")))
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(base, "fecs/fec01/software/Escape")))
	must(os.WriteFile(filepath.Join(base, ".lock"), nil, 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, "127.0.0.1:0", base, nil)
	must(err)
	defer s.Close()

	resp, body := get(t, "GET", s.URL+"/fecs/fec01/software/Foo", nil)
	if resp.StatusCode != 200 || body != "0123456789" {
		t.Fatalf("symlink inside: %d %q", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if resp, _ := get(t, "GET", s.URL+"/fecs/fec01/software/Foo", map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	if resp, body := get(t, "GET", s.URL+"/fecs/fec01/software/Foo", map[string]string{"Range": "bytes=4-"}); resp.StatusCode != 206 || body != "456789" {
		t.Fatalf("Range: %d %q", resp.StatusCode, body)
	}
	for _, p := range []string{"/fecs/fec01/software/Escape", "/.lock", "/fecs/", "/", "/../etc/passwd", "/nope"} {
		if resp, body := get(t, "GET", s.URL+p, nil); resp.StatusCode != 404 || strings.Contains(body, "secret") {
			t.Errorf("GET %s: %d %q, want 404", p, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, "PUT", s.URL+"/x", nil); resp.StatusCode != 405 {
		t.Errorf("PUT: %d, want 405", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(base, "x")); !os.IsNotExist(err) {
		t.Errorf("PUT wrote a file: %v", err)
	}
}
