package persist_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/persist"
	"github.com/stretchr/testify/require"
)

// mixedPayload fills dir with about mb MB: shared libraries and binaries of
// this machine (ELF, as FESA classes keep next to their data) and generated
// XML settings files.
func mixedPayload(b *testing.B, dir string, mb int64) {
	b.Helper()
	limit := mb << 20
	var n int64
	// Two thirds binaries.
	_ = filepath.WalkDir("/usr/lib", func(p string, d fs.DirEntry, err error) error {
		if err != nil || n >= limit*2/3 {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Size() > 8<<20 {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		dst := filepath.Join(dir, "bin", strings.ReplaceAll(strings.TrimPrefix(p, "/usr/lib/"), "/", "_"))
		writeFile(b, dst, string(data))
		n += fi.Size()
		return nil
	})
	// The rest XML instance files.
	for i := 0; n < limit; i++ {
		var sb strings.Builder
		fmt.Fprintf(&sb, "<instance id=\"%d\">\n", i)
		for j := 0; j < 400; j++ {
			fmt.Fprintf(&sb, "  <setting name=\"dev%04d.param%03d\" value=\"%d.%03d\" unit=\"mA\"/>\n", i, j, i*j%9973, j)
		}
		sb.WriteString("</instance>\n")
		writeFile(b, filepath.Join(dir, "xml", fmt.Sprintf("instance-%05d.xml", i)), sb.String())
		n += int64(sb.Len())
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkPersist100MB: one FEC, 100 MB of mixed data over loopback ssh:
// fec-persist against a bare `ssh fec tar -czf - DIR > file` (busybox tar on
// the FEC's side for both), run alternately. Target: ratio <= 1.2.
func BenchmarkPersist100MB(b *testing.B) {
	w := newWorld(b)
	s := w.sshd(b)
	root := w.addFEC(b, "fec01", s)
	mixedPayload(b, fooDir(root), 100)
	out := filepath.Join(b.TempDir(), "bare.tar.gz")
	var ours, bare []time.Duration
	reps := 3
	if v := os.Getenv("BENCH_REPS"); v != "" {
		fmt.Sscan(v, &reps)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range reps {
			start := time.Now()
			rs, err := w.run(b, persist.Options{Keep: 1})
			require.NoError(b, err)
			ours = append(ours, time.Since(start))
			b.Logf("fec-persist: %s, %d bytes tar -> %d bytes %s", time.Since(start), rs[0].Sets[0].TarBytes, rs[0].Bytes, rs[0].Sets[0].Format)

			start = time.Now()
			f, err := os.Create(out)
			require.NoError(b, err)
			cmd := exec.Command("ssh", "-F", w.sshConfig, "fec01", "cd "+root+" && tar -czf - opt/fesa/data/Foo_DU")
			cmd.Stdout = f
			require.NoError(b, cmd.Run())
			require.NoError(b, f.Close())
			bare = append(bare, time.Since(start))
		}
	}
	b.StopTimer()
	r := float64(median(ours)) / float64(median(bare))
	b.ReportMetric(median(ours).Seconds(), "persist-s")
	b.ReportMetric(median(bare).Seconds(), "ssh-tar-czf-s")
	b.ReportMetric(r, "ratio")
	fmt.Printf("persist 100 MB: fec-persist median %.2fs, ssh tar -czf median %.2fs, ratio %.2f (target <= 1.2) %s\n",
		median(ours).Seconds(), median(bare).Seconds(), r, map[bool]string{true: "(met)", false: "(MISSED)"}[r <= 1.2])
}

// BenchmarkPersist50FECs: 50 FECs with 1 MB each, -parallel 8, against the
// slowest single FEC × 50/8. Target: ratio < 1.5. The 50 FECs are 50 Host
// aliases (own roots) of 5 sshd servers.
func BenchmarkPersist50FECs(b *testing.B) {
	w := newWorld(b)
	const fecs, parallel = 50, 8
	const servers = 5
	srv := make([]interface{ HostBlock(string) string }, servers)
	for i := range srv {
		srv[i] = w.sshd(b)
	}
	var names []string
	for i := 0; i < fecs; i++ {
		name := fmt.Sprintf("fec%02d", i+1)
		root := w.addFEC(b, name, nil)
		w.addHost(b, srv[i%servers].HostBlock(name))
		mixedPayload(b, fooDir(root), 1)
		names = append(names, name)
	}
	var singles []time.Duration
	var all []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, n := range names[:5] {
			start := time.Now()
			_, err := w.run(b, persist.Options{FECs: []string{n}, Keep: 1})
			require.NoError(b, err)
			singles = append(singles, time.Since(start))
		}
		start := time.Now()
		_, err := persist.Run(context.Background(), w.st, persist.Options{Parallel: parallel, Keep: 1, SSHArgs: []string{"-F", w.sshConfig}})
		require.NoError(b, err)
		all = append(all, time.Since(start))
	}
	b.StopTimer()
	slowest := singles[0]
	for _, d := range singles {
		slowest = max(slowest, d)
	}
	target := time.Duration(float64(slowest) * fecs / parallel)
	r := float64(median(all)) / float64(target)
	b.ReportMetric(r, "ratio")
	fmt.Printf("persist 50 FECs x 1 MB, parallel %d: median %.2fs, slowest single %.2fs x 50/%d = %.2fs, ratio %.2f (target < 1.5) %s\n",
		parallel, median(all).Seconds(), slowest.Seconds(), parallel, target.Seconds(), r, map[bool]string{true: "(met)", false: "(MISSED)"}[r < 1.5])
}
