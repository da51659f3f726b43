package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/monitor"
	"github.com/fair-acc/fecdeploy/storage"
)

// The BenchmarkIcinga fixture: 5,000 monitored FECs with 20 checks each
// (all kinds) and two host groups, written straight on disk once per
// process.
const (
	benchMonFECs     = 5000
	benchMonServices = 20
)

var (
	benchMonOnce sync.Once
	benchMonDir  string
	benchMonErr  error
)

func benchMonitorStorage(b *testing.B) *storage.Storage {
	benchMonOnce.Do(func() {
		// Kept between runs (it takes long to write on a busy machine);
		// the marker says it is complete.
		benchMonDir = filepath.Join(os.TempDir(), fmt.Sprintf("fecdeploy-bench-monitor-%dx%d", benchMonFECs, benchMonServices))
		marker := filepath.Join(benchMonDir, ".bench-complete")
		if _, err := os.Stat(marker); err == nil {
			return
		}
		os.RemoveAll(benchMonDir)
		if _, benchMonErr = storage.Init(benchMonDir); benchMonErr != nil {
			return
		}
		defer func() {
			if benchMonErr == nil {
				benchMonErr = os.WriteFile(marker, nil, 0o644)
			}
		}()
		kinds := []string{
			"check=process\nprocess=Class%02d_DU\nsoftware=Class%02d_DU\nversion=1.2.3\n",
			"check=systemd\nunit=fesa@Class%02d_DU.service\ninterval=5m\n",
			"check=tcp\nport=9%03d\nwarning=1\ncritical=2\n",
			"check=http\nurl=http:///status/%02d\nport=8080\n",
			"check=command\ncommand=ping4\narg.ping_wrta=%d00\n",
		}
		for f := 0; f < benchMonFECs && benchMonErr == nil; f++ {
			dir := filepath.Join(benchMonDir, "fecs", fmt.Sprintf("fec%04d", f))
			mon := filepath.Join(dir, monitor.Dir)
			if benchMonErr = os.MkdirAll(mon, 0o755); benchMonErr != nil {
				return
			}
			conf := "arch=x86_64\n"
			if f%2 == 0 {
				conf += fmt.Sprintf("address=10.%d.%d.%d\n", f/65536, f/256%256, f%256)
			}
			benchMonErr = os.WriteFile(filepath.Join(dir, "fec.conf"), []byte(conf), 0o644)
			if benchMonErr == nil {
				benchMonErr = os.WriteFile(filepath.Join(mon, monitor.GroupsFile), []byte(fmt.Sprintf("all-fecs\nring%02d\n", f%40)), 0o644)
			}
			for s := 0; s < benchMonServices && benchMonErr == nil; s++ {
				body := fmt.Sprintf(kinds[s%len(kinds)], s, s)
				if s%len(kinds) != 0 {
					body = fmt.Sprintf(kinds[s%len(kinds)], s)
				}
				benchMonErr = os.WriteFile(filepath.Join(mon, fmt.Sprintf("svc%02d", s)), []byte(body), 0o644)
			}
		}
	})
	if benchMonErr != nil {
		b.Fatal(benchMonErr)
	}
	st, err := storage.Open(benchMonDir)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkIcinga is fecctl icinga on 5,000 FECs x 20 checks: read and
// validate every declaration, render, write the set and switch to it
// (target < 2 s; scripts/bench.sh prints the ratio).
func BenchmarkIcinga(b *testing.B) {
	st := benchMonitorStorage(b)
	ctx := context.Background()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	defer func() { b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op") }()
	for i := 0; i < b.N; i++ {
		out := b.TempDir()
		hosts, err := st.MonitorHosts(ctx, monitor.ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(hosts) != benchMonFECs || len(hosts[0].Services) != benchMonServices {
			b.Fatalf("%d hosts", len(hosts))
		}
		if _, err := monitor.Generate(ctx, hosts, out, monitor.RenderOptions{Domain: ".acc.example.org", BootStatus: "http://{fec}/status.json"}, monitor.SetOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIcingaRender is the rendering alone (no files read or written).
func BenchmarkIcingaRender(b *testing.B) {
	hosts, err := benchMonitorStorage(b).MonitorHosts(context.Background(), monitor.ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	defer func() { b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op") }()
	for i := 0; i < b.N; i++ {
		if _, err := monitor.Render(hosts, monitor.RenderOptions{Domain: ".acc.example.org"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIcingaReadBaseline is the baseline: reading every declaration
// file with os.ReadFile, in order, and nothing else.
func BenchmarkIcingaReadBaseline(b *testing.B) {
	st := benchMonitorStorage(b)
	b.ResetTimer()
	cpu0 := cpuSeconds()
	defer func() { b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op") }()
	for i := 0; i < b.N; i++ {
		n := 0
		err := filepath.WalkDir(filepath.Join(st.Base(), "fecs"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(p)
			n++
			return err
		})
		if err != nil || n < benchMonFECs*(benchMonServices+2) {
			b.Fatal(err, n)
		}
	}
}

// cpuSeconds is the user and system CPU time of the process so far: on a
// shared machine it says more than the wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
