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
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:s3cret@web/base":         "http://REDACTED@web/base",
		"https://web/base?token=s3cret":       "https://web/base?REDACTED",
		"http://web:8080/fecs/fec01/INDEX":    "http://web:8080/fecs/fec01/INDEX",
		"http://u:s3cret@web/x?sig=s3cret#ff": "http://REDACTED@web/x?REDACTED",
	} {
		if got := redactString(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckRetry(t *testing.T) {
	ctx := context.Background()
	for code, want := range map[int]bool{200: false, 206: false, 403: false, 404: false, 408: true, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true} {
		got, _ := checkRetry(ctx, &http.Response{StatusCode: code}, nil)
		if got != want {
			t.Errorf("status %d: retry = %v, want %v", code, got, want)
		}
	}
	if got, _ := checkRetry(ctx, nil, errors.New("connection refused")); !got {
		t.Error("a connection error is not retried")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := checkRetry(canceled, nil, errors.New("x")); got || !errors.Is(err, context.Canceled) {
		t.Errorf("retry after cancel: %v %v", got, err)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff(10 * time.Second)
	for attempt := 0; attempt < 8; attempt++ {
		ceil := time.Duration(100<<attempt) * time.Millisecond
		if ceil > time.Second {
			ceil = time.Second
		}
		var maxSeen time.Duration
		for i := 0; i < 200; i++ {
			d := b(100*time.Millisecond, time.Second, attempt, nil)
			if d < 0 || d > ceil {
				t.Fatalf("attempt %d: wait %v outside [0, %v]", attempt, d, ceil)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceil/2 {
			t.Errorf("attempt %d: waits up to %v only; full jitter should reach near %v", attempt, maxSeen, ceil)
		}
	}
	resp := func(code int, ra string) *http.Response {
		return &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {ra}}}
	}
	if d := b(time.Millisecond, time.Second, 0, resp(503, "7")); d != 7*time.Second {
		t.Errorf("Retry-After 7 on 503: %v", d)
	}
	if d := b(time.Millisecond, time.Second, 0, resp(429, "3600")); d != 10*time.Second {
		t.Errorf("Retry-After 3600 is not capped: %v", d)
	}
	date := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
	if d := b(time.Millisecond, time.Second, 0, resp(503, date)); d < 3*time.Second || d > 5*time.Second {
		t.Errorf("Retry-After as a date: %v", d)
	}
	if d := b(time.Millisecond, time.Millisecond, 0, resp(500, "60")); d > time.Millisecond {
		t.Errorf("Retry-After honoured on a 500: %v", d)
	}
}

// A server that breaks the connection after every chunk of bytes must not
// lose or duplicate any: the reader resumes with Range/If-Range.
func TestResumingReader(t *testing.T) {
	content := strings.Repeat("0123456789abcdef", 4096)
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rr)
	if err != nil || string(got) != content {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	want := []string{"|", `bytes=20000-|"v1"`, `bytes=40000-|"v1"`, `bytes=60000-|"v1"`}
	if strings.Join(ranges, " ") != strings.Join(want, " ") {
		t.Fatalf("requests %q, want %q", ranges, want)
	}

	// Fewer resumes allowed than needed: the error says where it stopped.
	cfg.Retries = 1
	f, _ = newFetcher(cfg)
	rr, _ = f.openResuming(context.Background(), u)
	_, err = io.ReadAll(rr)
	if err == nil || !strings.Contains(err.Error(), "reading at byte 40000") {
		t.Fatalf("err = %v", err)
	}
}

// Credentials in the base URL never reach a log line, an error or the status.
func TestNoCredentialsInLogs(t *testing.T) {
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
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	js, _ := st.JSON()
	for what, s := range map[string]string{"log": logs.String(), "error": err.Error(), "status": string(js)} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, "t0ken") {
			t.Errorf("%s leaks a credential:\n%s", what, s)
		}
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}
}

// HTTPS: the CA file is trusted; without it the certificate is refused at
// once (a certificate error is not retried).
func TestHTTPSWithCAFile(t *testing.T) {
	indexData := []byte("fecdeploy-index 1 fec=fec01 arch=x86_64\n")
	var requests atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/fecs/fec01/INDEX" {
			http.NotFound(w, r)
			return
		}
		w.Write(indexData)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{BaseURL: srv.URL, FEC: "fec01", Root: t.TempDir(), Retries: 5, RetryWaitMin: 100 * time.Millisecond}

	_, err := Boot(context.Background(), cfg)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") || requests.Load() != 0 {
		t.Fatalf("without the CA file: err = %v (%d requests served), want a certificate error", err, requests.Load())
	}

	cfg.CAFile = caFile
	st, err := Boot(context.Background(), cfg)
	if err != nil || st.IndexSHA256 == "" {
		t.Fatalf("with the CA file: %v", err)
	}

	cfg.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := Boot(context.Background(), cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("missing CA file: err = %v, want ErrConfig", err)
	}
}
