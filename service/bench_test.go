package service_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/service"
)

// benchEnv is a storage with n FECs, all linking Foo_DU 1.0.0.
func benchEnv(b *testing.B, dsn string, n int) *env {
	b.Helper()
	fecs := make([]string, n)
	for i := range fecs {
		fecs[i] = fmt.Sprintf("fec%04d", i)
	}
	e := newEnv(b, dsn, service.Options{}, fecs...)
	code, body := e.publish(b, "Foo_DU", "1.0.0", "")
	require.Equal(b, http.StatusOK, code, string(body))
	for i := 0; i < n; i += 100 {
		code, body := e.do(b, http.MethodPost, "/api/v1/link", e.token, service.LinkRequest{FECs: fecs[i:min(i+100, n)], Name: "Foo_DU", Version: "1.0.0"})
		require.Equal(b, http.StatusOK, code, string(body))
	}
	return e
}

// stormReports sends one report per FEC, conc at a time (or, when every > 0,
// one started every `every`, each on its own: arrivals at a steady rate),
// and returns the latencies sorted.
func stormReports(b *testing.B, e *env, n, conc int, every time.Duration) []time.Duration {
	bodies := make([][]byte, n)
	for i := range bodies {
		f := fmt.Sprintf("fec%04d", i)
		bodies[i] = statusJSON(f, e.indexSHA(b, f), 0, map[string]any{"kind": "software", "name": "Foo_DU", "version": "1.0.0", "action": "installed", "dev": false})
	}
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	next := make(chan int)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: max(conc, 100)}}
	if every > 0 {
		conc = n // a sender per report; the ticker paces them
	}
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				resp, err := client.Post(fmt.Sprintf("%s/api/v1/fecs/fec%04d/report", e.url, i), "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					b.Error(err)
					continue
				}
				resp.Body.Close()
				lat[i] = time.Since(start)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("report %d: %s", i, resp.Status)
				}
			}
		}()
	}
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for i := 0; i < n; i++ {
		if tick != nil {
			<-tick
		}
		next <- i
	}
	close(next)
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

func pct(lat []time.Duration, p float64) float64 {
	return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
}

// BenchmarkBootStorm: 1,000 FECs report within 20 s (three times the rate
// of 1,000 within a minute), then all 1,000 at once (50 in flight); p50/p99
// latency in ms. Then the fleet page for the 1,000 FECs (median of 5).
func BenchmarkBootStorm(b *testing.B) {
	for _, db := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", sqliteDSN}, {"postgres", func(t testing.TB) string { return testenv.PostgresDSN(t) }}} {
		b.Run(db.name, func(b *testing.B) {
			e := benchEnv(b, db.dsn(b), 1000)
			var p50, p99, burst50, burst99 float64
			var pages []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lat := stormReports(b, e, 1000, 0, 20*time.Millisecond)
				p50, p99 = pct(lat, 0.50), pct(lat, 0.99)
				lat = stormReports(b, e, 1000, 50, 0)
				burst50, burst99 = pct(lat, 0.50), pct(lat, 0.99)
				for j := 0; j < 5; j++ {
					start := time.Now()
					resp, err := http.Get(e.url + "/")
					require.NoError(b, err)
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					pages = append(pages, time.Since(start))
				}
			}
			sort.Slice(pages, func(i, j int) bool { return pages[i] < pages[j] })
			b.ReportMetric(p50, "paced-p50-ms")
			b.ReportMetric(p99, "paced-p99-ms")
			b.ReportMetric(burst50, "burst-p50-ms")
			b.ReportMetric(burst99, "burst-p99-ms")
			b.ReportMetric(pct(pages, 0.5), "fleet-page-ms")
			v, err := e.svc.Fleet(context.Background())
			require.NoError(b, err)
			require.Len(b, v, 1000)
			for _, x := range v {
				require.Equal(b, service.StateUpToDate, x.State, x.Name)
			}
		})
	}
}

// BenchmarkFleetPage renders the fleet page of 1,000 FECs that all reported.
func BenchmarkFleetPage(b *testing.B) {
	e := benchEnv(b, sqliteDSN(b), 1000)
	stormReports(b, e, 1000, 20, 0)
	h := e.svc.Handler()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
