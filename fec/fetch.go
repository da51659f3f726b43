package fec

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// redact returns u as a string without credentials: the password and any
// query (tokens travel there) are replaced, so the result is safe for a log
// line, an error, the status file and a script's environment.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	if c.RawQuery != "" {
		c.RawQuery = "REDACTED"
	}
	c.Fragment = ""
	return c.String()
}

func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return redact(u)
}

// fetcher does GETs with bounded retries over retryablehttp.
type fetcher struct {
	rc      *retryablehttp.Client
	idle    time.Duration
	resumes int
	log     *slog.Logger
}

func newFetcher(cfg Config) (*fetcher, error) {
	hc := cfg.HTTPClient
	if hc == nil {
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, configErr("reading CA file: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, configErr("CA file %s holds no PEM certificate", cfg.CAFile)
			}
			tlsConf.RootCAs = pool
		}
		hc = &http.Client{Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConf,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: cfg.IdleTimeout,
			DisableCompression:    true, // archives are compressed; INDEX is tiny
			MaxIdleConnsPerHost:   cfg.Parallel + 2,
			IdleConnTimeout:       30 * time.Second,
			ReadBufferSize:        64 << 10, // fewer read syscalls for large bodies
			ForceAttemptHTTP2:     true,
		}}
	}
	hc = withRedirectPolicy(hc, cfg.AllowHTTPRedirect)
	rc := &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       nil, // it would log URLs; we log redacted ones ourselves
		RetryWaitMin: cfg.RetryWaitMin,
		RetryWaitMax: cfg.RetryWaitMax,
		RetryMax:     cfg.Retries,
		CheckRetry:   checkRetry,
		Backoff:      backoff(cfg.RetryAfterCap),
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	log := cfg.Logger
	rc.RequestLogHook = func(_ retryablehttp.Logger, r *http.Request, attempt int) {
		if attempt > 0 {
			log.Info("retrying", "url", redact(r.URL), "attempt", attempt+1)
		}
	}
	rc.ResponseLogHook = func(_ retryablehttp.Logger, resp *http.Response) {
		if a, ok := resp.Request.Context().Value(lastAnswerKey{}).(*lastAnswer); ok && resp.StatusCode/100 != 2 {
			a.err = &HTTPError{URL: redact(resp.Request.URL), StatusCode: resp.StatusCode, Status: resp.Status}
		}
	}
	return &fetcher{rc: rc, idle: cfg.IdleTimeout, resumes: cfg.Retries, log: log}, nil
}

// errHTTPRedirect: an https request was redirected to http.
var errHTTPRedirect = errors.New("redirected from https to plain http: refused (fix the server's redirect, or set allow_http_redirect if this is intended)")

// withRedirectPolicy returns a copy of hc that refuses a redirect from https
// to http unless allowed, and otherwise keeps hc's own policy (Go's
// default: at most 10 redirects).
func withRedirectPolicy(hc *http.Client, allowHTTP bool) *http.Client {
	c := *hc
	prev := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !allowHTTP && req.URL.Scheme == "http" {
			for _, v := range via {
				if v.URL.Scheme == "https" {
					return fmt.Errorf("%w: %s", errHTTPRedirect, redact(req.URL))
				}
			}
		}
		if prev != nil {
			return prev(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// checkRetry retries connection errors, 408, 429 and 5xx except 501; never
// 403 or 404 (an unknown FEC must fail fast) and never once ctx is done.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if isCertError(err) || errors.Is(err, errHTTPRedirect) {
			return false, err // a certificate problem or a refused redirect does not heal by retrying
		}
		return true, nil
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
		return true, nil
	case c >= 500 && c != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// backoff is full jitter: uniform in [0, min(max, min·2^n)]. A Retry-After
// on 429/503 is honoured: at least min, capped, plus a random extra of up to
// half of it, so the FECs a storm sent away at the same moment do not all
// come back in the same second.
func backoff(retryAfterCap time.Duration) retryablehttp.Backoff {
	return func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
		if d, ok := comeBackLater(resp); ok {
			d = clamp(d, min, retryAfterCap)
			return d + time.Duration(rand.Int64N(int64(d/2)+1))
		}
		ceil := min
		for i := 0; i < attempt && ceil < max; i++ {
			ceil *= 2
		}
		if ceil > max {
			ceil = max
		}
		if ceil <= 0 {
			return 0
		}
		return time.Duration(rand.Int64N(int64(ceil) + 1))
	}
}

// comeBackLater returns the Retry-After of a 429 or 503 answer: the server
// says it is busy and when to ask again.
func comeBackLater(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	return retryAfter(resp.Header.Get("Retry-After"), time.Now())
}

// clamp bounds d to [lo, hi]; hi wins when lo > hi (an explicit cap).
func clamp(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		d = lo
	}
	if d > hi {
		d = hi
	}
	return d
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > 1<<30 {
			n = 1 << 30
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

var errIdle = errors.New("no data received within the idle timeout")

// lastAnswer keeps the last non-2xx answer of one request's retries: when
// the deadline cuts a retry short, the error says what the server last
// answered (e.g. 503), not only "deadline exceeded".
type lastAnswer struct{ err *HTTPError }

type lastAnswerKey struct{}

// open issues one GET (with retries) and returns a 2xx response whose body
// read fails when no bytes arrive within the idle timeout. rangeFrom > 0 asks
// for the rest of the file from that offset (with If-Range: validator).
func (f *fetcher) open(ctx context.Context, u *url.URL, rangeFrom int64, validator string) (*http.Response, func(), error) {
	last := &lastAnswer{}
	rctx, cancel := context.WithCancelCause(context.WithValue(ctx, lastAnswerKey{}, last))
	req, err := retryablehttp.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, nil, fmt.Errorf("%w: GET %s: %v", ErrConfig, redact(u), err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "fec-boot")
	if rangeFrom > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", rangeFrom))
		if validator != "" {
			req.Header.Set("If-Range", validator)
		}
	}
	resp, err := f.rc.Do(req)
	// A server that says when to ask again (429/503 with Retry-After: a boot
	// storm meeting its limit) is asked again until the deadline, not given
	// up on after Retries attempts: it is up, only busy.
	for err == nil && ctx.Err() == nil {
		if _, busy := comeBackLater(resp); !busy {
			break
		}
		wait := f.rc.Backoff(f.rc.RetryWaitMin, f.rc.RetryWaitMax, 0, resp)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		f.log.Info("server busy, asking again", "url", redact(u), "status", resp.StatusCode, "wait", wait.String())
		busyErr := &HTTPError{URL: redact(u), StatusCode: resp.StatusCode, Status: resp.Status}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
			resp, err = f.rc.Do(req)
		case <-rctx.Done():
			timer.Stop()
		}
		if rctx.Err() != nil {
			// The deadline came while the server was busy: say so.
			if err == nil {
				resp.Body.Close()
			}
			cancel(nil)
			return nil, nil, busyErr
		}
	}
	if err != nil {
		cancel(nil)
		if ctx.Err() != nil {
			if last.err != nil {
				return nil, nil, fmt.Errorf("%w; retrying it was stopped: %w (%v)", last.err, ctx.Err(), context.Cause(ctx))
			}
			return nil, nil, fmt.Errorf("GET %s: %w (%v)", redact(u), ctx.Err(), context.Cause(ctx))
		}
		return nil, nil, fmt.Errorf("GET %s: %w", redact(u), unwrapURLError(err))
	}
	if resp.StatusCode/100 != 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel(nil)
		return nil, nil, &HTTPError{URL: redact(u), StatusCode: resp.StatusCode, Status: resp.Status}
	}
	timer := time.AfterFunc(f.idle, func() { cancel(errIdle) })
	resp.Body = &idleBody{ReadCloser: resp.Body, timer: timer, idle: f.idle, ctx: rctx}
	return resp, func() { timer.Stop(); resp.Body.Close(); cancel(nil) }, nil
}

// unwrapURLError drops url.Error's wrapping, which repeats the full URL
// with any query token.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isCertError reports a TLS certificate problem, which retrying cannot fix.
func isCertError(err error) bool {
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var tve *tls.CertificateVerificationError
	return errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) || errors.As(err, &tve)
}

type idleBody struct {
	io.ReadCloser
	timer *time.Timer
	idle  time.Duration
	ctx   context.Context
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), errIdle) {
		err = fmt.Errorf("%w (%v)", errIdle, b.idle)
	}
	return n, err
}

// resumingReader reads a file over HTTP and, when the connection breaks off
// or stalls mid-body, asks for the rest with Range/If-Range. A 206 continues
// the stream seamlessly; a 200 (the file changed or the server ignores
// ranges) fails with ErrRestart, since appending would corrupt the stream.
type resumingReader struct {
	ctx       context.Context
	f         *fetcher
	u         *url.URL
	body      io.Reader
	close     func()
	off       int64
	validator string
	resumed   int
	onResume  func(off int64)
	total     int64 // the file's size from the first answer, -1 if unknown
}

func (f *fetcher) openResuming(ctx context.Context, u *url.URL) (*resumingReader, error) {
	resp, closeFn, err := f.open(ctx, u, 0, "")
	if err != nil {
		return nil, err
	}
	v := resp.Header.Get("ETag")
	if strings.HasPrefix(v, "W/") {
		v = "" // a weak ETag cannot be used with If-Range
	}
	if v == "" {
		v = resp.Header.Get("Last-Modified")
	}
	return &resumingReader{ctx: ctx, f: f, u: u, body: resp.Body, close: closeFn, validator: v, total: resp.ContentLength}, nil
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			if err := r.reopen(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		if r.ctx.Err() != nil || r.resumed >= r.f.resumes {
			return n, fmt.Errorf("GET %s: reading at byte %d: %w", redact(r.u), r.off, err)
		}
		if r.validator == "" && r.off > 0 {
			// Without ETag or Last-Modified a Range request could splice
			// two versions of the file: start over instead.
			return n, fmt.Errorf("GET %s: broke off at byte %d (%v) and the server sent no ETag or Last-Modified to resume with: %w", redact(r.u), r.off, err, ErrRestart)
		}
		r.f.log.Warn("download broke off, resuming", "url", redact(r.u), "offset", r.off, "error", err.Error())
		r.close()
		r.body = nil
		r.resumed++
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resumingReader) reopen() error {
	resp, closeFn, err := r.f.open(r.ctx, r.u, r.off, r.validator)
	var he *HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		if r.total >= 0 && r.off == r.total {
			// Every byte is here already (the break came after the last
			// one): the end of the stream; the verifier checks the rest.
			return io.EOF
		}
		return fmt.Errorf("GET %s: resuming at byte %d: answer %s: %w", redact(r.u), r.off, he.Status, ErrRestart)
	}
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if r.off == 0 {
			// Nothing had arrived (a stall at byte 0): no Range was asked
			// for, so this is a plain retry.
			if v := resp.Header.Get("ETag"); v != "" && !strings.HasPrefix(v, "W/") {
				r.validator = v
			} else {
				r.validator = resp.Header.Get("Last-Modified")
			}
			break
		}
		closeFn()
		return fmt.Errorf("GET %s: resuming at byte %d: answer %s, the server ignored the Range request (or the file changed): %w", redact(r.u), r.off, resp.Status, ErrRestart)
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != r.off {
			closeFn()
			return fmt.Errorf("GET %s: asked for bytes from %d, got Content-Range %q: %w", redact(r.u), r.off, resp.Header.Get("Content-Range"), ErrRestart)
		}
	default:
		closeFn()
		return fmt.Errorf("GET %s: resuming at byte %d: answer %s: %w", redact(r.u), r.off, resp.Status, ErrRestart)
	}
	if r.onResume != nil {
		r.onResume(r.off)
	}
	r.body, r.close = resp.Body, closeFn
	return nil
}

func (r *resumingReader) Close() error {
	if r.body != nil {
		r.close()
		r.body = nil
	}
	return nil
}

func contentRangeStart(v string) (int64, bool) {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// getSmall fetches a small file whole (INDEX, INDEX.sig), refusing more than
// limit bytes.
func (f *fetcher) getSmall(ctx context.Context, u *url.URL, limit int64) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt <= f.resumes; attempt++ {
		resp, closeFn, err := f.open(ctx, u, 0, "")
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		closeFn()
		if err == nil {
			if int64(len(data)) > limit {
				return nil, fmt.Errorf("GET %s: more than %d bytes: %w", redact(u), limit, errTooLarge)
			}
			return data, nil
		}
		lastErr = fmt.Errorf("GET %s: %w", redact(u), err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}
