// Package faultproxy is an HTTP proxy for tests that stands in front of a
// real web server (nginx from internal/testenv) and misbehaves on request,
// the way a hostile or broken web server, caching proxy or network path
// does: it replays a recorded older answer, freezes a path (keeps serving
// what it served at one moment), swaps the bodies of two paths, truncates,
// cuts or stalls an answer, answers a status of its own (503 with
// Retry-After), redirects, or sends a body that never ends. A request no
// rule matches is forwarded unchanged (Range and If-Range included), so a
// test changes only what it means to change.
//
//	ng := testenv.StartNginx(t, dir, testenv.NginxOptions{})
//	p := faultproxy.Start(t, ng.URL,
//		&faultproxy.Rule{Suffix: ".tar.gz", Times: 1, Kind: faultproxy.Cut, After: 1000})
//	old := p.Record(t, "/fecs/fec01/INDEX", "/fecs/fec01/INDEX.sig") // before the writer changes them
//	...
//	p.Add(&faultproxy.Rule{Kind: faultproxy.Replay, Recorded: old}) // serve yesterday's INDEX again
//
// See docs/testing.md, "The fault-injecting proxy".
package faultproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kind is what a rule does with a request it matches.
type Kind int

const (
	// Forward passes the request on (from Rule.From instead of its own
	// path, with Rule.StaleIfRange and Rule.DropValidators applied).
	Forward Kind = iota
	// Cut forwards, then closes the connection after Rule.After body
	// bytes: the client sees a transfer broken after its status line.
	Cut
	// Stall forwards Rule.After body bytes, then sends nothing more until
	// the client gives up (or the test ends).
	Stall
	// Truncate forwards only the first Rule.After body bytes, as a
	// complete answer (Content-Length says so).
	Truncate
	// Endless answers 200 with a body that never ends.
	Endless
	// Status answers Rule.Status with Rule.Header and no body (e.g. 503
	// with Retry-After).
	Status
	// Redirect answers 302 to Rule.To.
	Redirect
	// Replay serves the answer recorded for the request's path
	// (Rule.Recorded, from Proxy.Record): an older file served again, or
	// a frozen one.
	Replay
)

var kindNames = []string{"forward", "cut", "stall", "truncate", "endless", "status", "redirect", "replay"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// Rule says which requests to change and how. The zero fields match
// everything; the first rule (in the order given) that matches a request
// is applied.
type Rule struct {
	Path      string // only this URL path ("" = any)
	Suffix    string // only paths ending in this ("" = any)
	RangeOnly bool   // only requests with a Range header
	Times     int    // only the first Times matching requests (0 = all)

	Kind   Kind
	After  int64             // Cut, Stall, Truncate: body bytes sent first
	Status int               // Status: the status code
	Header map[string]string // Status: headers of the answer
	To     string            // Redirect: the Location

	From           string   // Forward, Cut, Stall, Truncate: fetch this path from upstream instead (a swap)
	StaleIfRange   bool     // replace the request's If-Range by a validator that never matches
	DropValidators bool     // drop ETag and Last-Modified from the answer
	Recorded       Recorded // Replay: the answers by path; with Path and Suffix unset, the rule matches these paths

	n atomic.Int64
}

// Recorded holds answers by URL path, as the upstream gave them at one
// moment (Proxy.Record).
type Recorded map[string]Answer

// Answer is one recorded answer.
type Answer struct {
	Status int
	Header http.Header // Content-Type, ETag, Last-Modified
	Body   []byte
}

// Request is one request the proxy received.
type Request struct {
	Time          time.Time
	Method        string
	Path          string
	Range         string
	IfRange       string
	Authorization string
	Kind          Kind   // what the proxy did (Forward when no rule matched)
	Err           string // the upstream's failure when the proxy answered 502
}

// Proxy forwards to an upstream URL, applying its rules.
type Proxy struct {
	// URL is where the proxy listens (set by Start).
	URL string

	upstream string
	tr       *http.Transport
	ctx      context.Context // ends stalls when the test ends

	mu    sync.Mutex
	rules []*Rule
	log   []Request
	sent  atomic.Int64
}

// New returns a proxy to upstream (e.g. testenv.Nginx.URL) as an
// http.Handler, for a test that serves it itself (on a fixed address).
// Stalls end when ctx ends; Start cancels it at the end of the test.
func New(ctx context.Context, upstream string, rules ...*Rule) *Proxy {
	return &Proxy{upstream: strings.TrimRight(upstream, "/"), rules: rules, ctx: ctx,
		tr: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}
}

// Start serves a new proxy on 127.0.0.1 until the end of the test.
func Start(t testing.TB, upstream string, rules ...*Rule) *Proxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, upstream, rules...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("faultproxy: listen: %v", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go srv.Serve(l)
	t.Cleanup(func() {
		cancel()
		srv.Close()
		p.tr.CloseIdleConnections()
	})
	p.URL = "http://" + l.Addr().String()
	return p
}

// Add appends rules (tried after the ones the proxy has).
func (p *Proxy) Add(rules ...*Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rules...)
}

// Set replaces every rule; Set() makes the proxy forward everything.
func (p *Proxy) Set(rules ...*Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append([]*Rule(nil), rules...)
}

// Record fetches paths from the upstream now, past the rules, and returns
// the answers (any status: a 404 is recorded as one).
func (p *Proxy) Record(t testing.TB, paths ...string) Recorded {
	t.Helper()
	rec := Recorded{}
	for _, path := range paths {
		resp, err := p.tr.RoundTrip(mustRequest(t, p.upstream+path))
		if err != nil {
			t.Fatalf("faultproxy: recording %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("faultproxy: recording %s: %v", path, err)
		}
		h := http.Header{}
		for _, k := range []string{"Content-Type", "ETag", "Last-Modified"} {
			if v := resp.Header.Get(k); v != "" {
				h.Set(k, v)
			}
		}
		rec[path] = Answer{Status: resp.StatusCode, Header: h, Body: body}
	}
	return rec
}

func mustRequest(t testing.TB, u string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	return req
}

// Freeze records paths now and serves those answers from now on, whatever
// the upstream has later: a server that keeps serving the same INDEX.
func (p *Proxy) Freeze(t testing.TB, paths ...string) {
	t.Helper()
	p.Add(&Rule{Kind: Replay, Recorded: p.Record(t, paths...)})
}

// Swap answers a request for path a with the upstream's b and the other
// way round.
func (p *Proxy) Swap(a, b string) {
	p.Add(&Rule{Path: a, From: b}, &Rule{Path: b, From: a})
}

// Requests returns the requests received so far, in order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Count returns how many requests for path the proxy received.
func (p *Proxy) Count(path string) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

// Sent returns the body bytes sent to clients so far.
func (p *Proxy) Sent() int64 { return p.sent.Load() }

func (r *Rule) matches(req *http.Request) bool {
	switch {
	case r.Path != "" && req.URL.Path != r.Path,
		r.Suffix != "" && !strings.HasSuffix(req.URL.Path, r.Suffix),
		r.RangeOnly && req.Header.Get("Range") == "":
		return false
	case r.Kind == Replay:
		_, ok := r.Recorded[req.URL.Path]
		return ok
	}
	return true
}

func (p *Proxy) pick(req *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	var picked *Rule
	for _, r := range p.rules {
		if !r.matches(req) || (r.Times > 0 && r.n.Add(1) > int64(r.Times)) {
			continue
		}
		picked = r
		break
	}
	kind := Forward
	if picked != nil {
		kind = picked.Kind
	}
	p.log = append(p.log, Request{Time: time.Now(), Method: req.Method, Path: req.URL.Path, Range: req.Header.Get("Range"),
		IfRange: req.Header.Get("If-Range"), Authorization: req.Header.Get("Authorization"), Kind: kind})
	return picked
}

// ServeHTTP applies the first matching rule, or forwards.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule := p.pick(r)
	if rule == nil {
		p.forward(w, r, &Rule{})
		return
	}
	switch rule.Kind {
	case Status:
		for k, v := range rule.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rule.Status)
	case Redirect:
		http.Redirect(w, r, rule.To, http.StatusFound)
	case Endless:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		buf := bytes.Repeat([]byte("x"), 64<<10)
		for {
			n, err := w.Write(buf)
			p.sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	case Replay:
		a := rule.Recorded[r.URL.Path]
		for k, v := range a.Header {
			w.Header()[k] = v
		}
		if a.Status != http.StatusOK {
			w.WriteHeader(a.Status)
			p.write(w, a.Body)
			return
		}
		mod, _ := http.ParseTime(a.Header.Get("Last-Modified"))
		http.ServeContent(countingWriter{w, &p.sent}, r, "", mod, bytes.NewReader(a.Body))
	default:
		p.forward(w, r, rule)
	}
}

var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rule *Rule) {
	path := r.URL.Path
	if rule.From != "" {
		path = rule.From
	}
	u := p.upstream + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	for _, h := range hopByHop {
		req.Header.Del(h)
	}
	if rule.StaleIfRange && req.Header.Get("If-Range") != "" {
		req.Header.Set("If-Range", `"stale"`)
	}
	resp, err := p.tr.RoundTrip(req)
	if err != nil {
		p.mu.Lock()
		for i := len(p.log) - 1; i >= 0; i-- {
			if p.log[i].Path == r.URL.Path && p.log[i].Err == "" {
				p.log[i].Err = err.Error()
				break
			}
		}
		p.mu.Unlock()
		http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	if rule.DropValidators {
		h.Del("ETag")
		h.Del("Last-Modified")
	}
	switch rule.Kind {
	case Truncate:
		n := rule.After
		if resp.ContentLength >= 0 {
			n = min(n, resp.ContentLength)
		}
		h.Set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(resp.StatusCode)
		p.copy(w, resp.Body, n)
	case Cut, Stall:
		w.WriteHeader(resp.StatusCode)
		p.copy(w, resp.Body, rule.After)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		if rule.Kind == Stall {
			select {
			case <-r.Context().Done():
			case <-p.ctx.Done():
			case <-time.After(2 * time.Minute):
			}
		}
		if conn, _, err := rc.Hijack(); err == nil {
			conn.Close()
		}
	default:
		w.WriteHeader(resp.StatusCode)
		p.copy(w, resp.Body, -1)
	}
}

// copy sends at most n bytes of body (n < 0: all of it).
func (p *Proxy) copy(w io.Writer, body io.Reader, n int64) {
	if n >= 0 {
		body = io.LimitReader(body, n)
	}
	c, _ := io.Copy(w, body)
	p.sent.Add(c)
}

func (p *Proxy) write(w io.Writer, b []byte) {
	n, _ := w.Write(b)
	p.sent.Add(int64(n))
}

// countingWriter counts the body bytes of http.ServeContent.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// String describes a request in one line: "GET /path range=... if-range=... (kind)".
func (r Request) String() string {
	s := fmt.Sprintf("%s %s range=%s if-range=%s (%s)", r.Method, r.Path, r.Range, r.IfRange, r.Kind)
	if r.Err != "" {
		s += ": upstream failed: " + r.Err
	}
	return s
}
