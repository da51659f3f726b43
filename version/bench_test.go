package version

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchInput is a large site: fecs FECs, each linking every one of software
// software to one of its versions (mostly the newest ones), versions
// versions per software (one of them a prerelease, one dev).
func benchInput(fecs, software, versions int) PlanInput {
	in := PlanInput{Now: now}
	fecNames := make([]string, fecs)
	for f := range fecNames {
		fecNames[f] = fmt.Sprintf("fec%04d", f)
	}
	for s := 0; s < software; s++ {
		sw := SoftwareInput{Name: fmt.Sprintf("Soft%03d_DU", s)}
		for v := 0; v < versions; v++ {
			name := fmt.Sprintf("1.%d.0", v)
			switch v {
			case versions - 1:
				name = "dev"
			case versions - 2:
				name = fmt.Sprintf("1.%d.0-rc.1", v)
			}
			sw.Versions = append(sw.Versions, VersionInput{
				Name:      name,
				Published: now.Add(-time.Duration(versions-v) * 48 * time.Hour),
				Unlinked:  now.Add(-time.Duration(versions-v) * 12 * time.Hour),
			})
		}
		for f, fec := range fecNames {
			// 90% on the newest productive version, the rest spread over
			// all but the three oldest (which the plan removes).
			v := versions - 3
			if f%10 == 0 {
				v = 3 + (f/10)%(versions-3)
			}
			sw.Versions[v].LinkedBy = append(sw.Versions[v].LinkedBy, fec)
		}
		in.Software = append(in.Software, sw)
	}
	return in
}

// BenchmarkPlan: 1,000 FECs × 200 software × 10 versions (200,000 links,
// 2,000 versions). Target: well under 1 s per plan. Results in
// docs/benchmarks.md.
func BenchmarkPlan(b *testing.B) {
	in := benchInput(1000, 200, 10)
	b.ReportAllocs()
	b.ResetTimer()
	var removed int
	for i := 0; i < b.N; i++ {
		p := NewPlan(in)
		_, removed = p.Counts()
	}
	b.StopTimer()
	require.False(b, removed == 0, "benchmark plan removes nothing: the input does not exercise removal")
}
