package fec

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://user:s3cret@web/base":         "http://REDACTED@web/base",
		"https://web/base?token=s3cret":       "https://web/base?REDACTED",
		"http://web:8080/fecs/fec01/INDEX":    "http://web:8080/fecs/fec01/INDEX",
		"http://u:s3cret@web/x?sig=s3cret#ff": "http://REDACTED@web/x?REDACTED",
	} {
		assert.Equal(t, want, redactString(in), "redact(%q)", in)
	}
}

func TestCheckRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for code, want := range map[int]bool{200: false, 206: false, 403: false, 404: false, 408: true, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true} {
		got, _ := checkRetry(ctx, &http.Response{StatusCode: code}, nil)
		assert.Equal(t, want, got, "status %d: retry", code)
	}
	got, _ := checkRetry(ctx, nil, errors.New("connection refused"))
	assert.True(t, got, "a connection error is retried")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	got, err := checkRetry(canceled, nil, errors.New("x"))
	assert.False(t, got, "no retry after cancel")
	assert.ErrorIs(t, err, context.Canceled)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := backoff(10 * time.Second)
	for attempt := 0; attempt < 8; attempt++ {
		ceil := time.Duration(100<<attempt) * time.Millisecond
		if ceil > time.Second {
			ceil = time.Second
		}
		var maxSeen time.Duration
		for i := 0; i < 200; i++ {
			d := b(100*time.Millisecond, time.Second, attempt, nil)
			require.True(t, d >= 0 && d <= ceil, "attempt %d: wait %v outside [0, %v]", attempt, d, ceil)
			maxSeen = max(maxSeen, d)
		}
		assert.GreaterOrEqual(t, maxSeen, ceil/2, "attempt %d: full jitter should reach near %v", attempt, ceil)
	}
	resp := func(code int, ra string) *http.Response {
		return &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {ra}}}
	}
	// Retry-After, capped, plus a random extra of up to half of it: FECs
	// sent away together come back spread.
	within := func(d, lo, hi time.Duration, msg string) {
		t.Helper()
		assert.True(t, d >= lo && d <= hi, "%s: %v outside [%v, %v]", msg, d, lo, hi)
	}
	var spread []time.Duration
	for i := 0; i < 50; i++ {
		d := b(time.Millisecond, time.Second, 0, resp(503, "7"))
		within(d, 7*time.Second, 7*time.Second*3/2, "Retry-After 7 on 503")
		spread = append(spread, d)
	}
	slices.Sort(spread)
	assert.Greater(t, spread[len(spread)-1]-spread[0], time.Second, "the extra is random: %v", spread)
	within(b(time.Millisecond, time.Second, 0, resp(429, "3600")), 10*time.Second, 15*time.Second, "Retry-After 3600 is capped")
	within(b(500*time.Millisecond, time.Second, 0, resp(429, "0")), 500*time.Millisecond, 750*time.Millisecond, "Retry-After 0 waits the shortest backoff")
	date := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
	within(b(time.Millisecond, time.Second, 0, resp(503, date)), 3*time.Second, 5*time.Second*3/2, "Retry-After as a date")
	assert.LessOrEqual(t, b(time.Millisecond, time.Millisecond, 0, resp(500, "60")), time.Millisecond, "Retry-After ignored on a 500")
}

// A server that breaks the connection after every chunk of bytes must not
// lose or duplicate any: the reader resumes with Range/If-Range.
func TestResumingReader(t *testing.T) {
	t.Parallel()
	content := strings.Repeat("0123456789abcdef", 4096)
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		ranges = append(ranges, r.Header.Get("Range")+"|"+r.Header.Get("If-Range"))
		start := 0
		if rg := r.Header.Get("Range"); rg != "" && r.Header.Get("If-Range") == `"v1"` {
			fmt.Sscanf(rg, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(content)-1, len(content)))
			w.Header().Set("Content-Length", fmt.Sprint(len(content)-start))
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(206)
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.Header().Set("ETag", `"v1"`)
		}
		end := min(start+20000, len(content))
		w.Write([]byte(content[start:end]))
		if end < len(content) {
			w.(http.Flusher).Flush()
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close()
		}
	}))
	defer srv.Close()
	cfg, _, _ := Config{BaseURL: srv.URL, FEC: "f", Retries: 5, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond}.withDefaults()
	f, _ := newFetcher(cfg)
	u, _ := url.Parse(srv.URL + "/a")
	rr, err := f.openResuming(context.Background(), u)
	require.NoError(t, err)
	got, err := io.ReadAll(rr)
	require.NoError(t, err)
	require.Equal(t, content, string(got))
	mu.Lock()
	assert.Equal(t, []string{"|", `bytes=20000-|"v1"`, `bytes=40000-|"v1"`, `bytes=60000-|"v1"`}, ranges)
	mu.Unlock()

	// Fewer resumes allowed than needed: the error says where it stopped.
	cfg.Retries = 1
	f, _ = newFetcher(cfg)
	rr, _ = f.openResuming(context.Background(), u)
	_, err = io.ReadAll(rr)
	assert.ErrorContains(t, err, "reading at byte 40000")
}

// Credentials in the base URL never reach a log line, an error or the status.
func TestNoCredentialsInLogs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "fec" || p != "s3cret" || r.URL.Query().Get("token") != "t0ken" {
			http.Error(w, "no", 403)
			return
		}
		http.Error(w, "busy", 503)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	u, _ := url.Parse(srv.URL)
	cfg := Config{
		BaseURL: "http://fec:s3cret@" + u.Host + "/base?token=t0ken", FEC: "fec01", Root: t.TempDir(),
		Retries: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 50 * time.Millisecond, Deadline: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	st, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrUnreachable)
	js, err2 := st.JSON()
	require.NoError(t, err2)
	for what, s := range map[string]string{"log": logs.String(), "error": err.Error(), "status": string(js)} {
		assert.NotContains(t, s, "s3cret", "%s leaks a credential", what)
		assert.NotContains(t, s, "t0ken", "%s leaks a credential", what)
	}
	assert.Contains(t, logs.String(), "retrying", "a retry is logged")
}

// HTTPS: the CA file is trusted; without it the certificate is refused at
// once (a certificate error is not retried).
func TestHTTPSWithCAFile(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	st.WriteIndex(t, "fec01", nil)
	var requests atomic.Int32
	files := st.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	cfg := Config{BaseURL: srv.URL, FEC: "fec01", Root: t.TempDir(), Retries: 5, RetryWaitMin: 100 * time.Millisecond}

	_, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrUnreachable, "without the CA file")
	assert.ErrorContains(t, err, "certificate")
	assert.Zero(t, requests.Load(), "requests served without the CA file")

	cfg.CAFile = caFile
	status, err := Boot(context.Background(), cfg)
	require.NoError(t, err, "with the CA file")
	assert.NotEmpty(t, status.IndexSHA256)

	cfg.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	_, err = Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrConfig, "missing CA file")
}
