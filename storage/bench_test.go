package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/require"
)

// The BenchmarkReindex fixture: 1,000 FECs with 50 links each into 100
// software packages of 3 versions (tiny archives), built once per process.
const (
	benchFECs     = 1000
	benchLinks    = 50
	benchSoftware = 100
	benchVersions = 3
)

// benchFixture builds the storage in dir.
func benchFixture(b *testing.B, benchDir string) *Storage {
	s, err := Init(benchDir)
	require.NoError(b, err)
	for sw := 0; sw < benchSoftware; sw++ {
		for v := 0; v < benchVersions; v++ {
			name, ver := fmt.Sprintf("Soft%03d_DU", sw), fmt.Sprintf("1.%d.0", v)
			if _, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: name, Version: version.MustParse(ver), Arch: "x86_64",
				Body: bytes.NewReader(blob(index.FormatZstd, 512, int64(sw*10+v)))}); err != nil {
				b.Fatal(err)
			}
		}
	}
	// FECs and links straight on disk: the API would reindex after every link.
	c, _ := FECConfig{Arch: "x86_64"}.normalize()
	for f := 0; f < benchFECs; f++ {
		dir := filepath.Join(benchDir, FECsDir, fmt.Sprintf("fec%04d", f))
		require.NoError(b, os.MkdirAll(filepath.Join(dir, SoftwareDir), 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(dir, FECConfName), c.marshal(), 0o644))
		for l := 0; l < benchLinks; l++ {
			name := fmt.Sprintf("Soft%03d_DU", (f+l*7)%benchSoftware)
			v := (f + l) % benchVersions
			target := fmt.Sprintf("../../../software/%s/1.%d.0/%s-1.%d.0-x86_64.tar.zst", name, v, name, v)
			require.NoError(b, os.Symlink(target, filepath.Join(dir, SoftwareDir, name)))
		}
	}
	return s
}

// BenchmarkReindex: reindex every FEC of a storage with 1,000 FECs x 50
// links (target: under 2 s). The fixture is built once (the body of a
// benchmark with sub-benchmarks runs once). Every INDEX is removed before
// each iteration, so all 1,000 are built, written and fsynced.
// scripts/bench.sh runs it and compares the median with the target.
func BenchmarkReindex(b *testing.B) {
	dir := b.TempDir()
	s := benchFixture(b, dir)
	fecs, err := s.FECs(ctx)
	require.False(b, err != nil || len(fecs) != benchFECs, "%d FECs: %v", len(fecs), err)
	b.Run(fmt.Sprintf("%dx%d", benchFECs, benchLinks), func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			for _, fec := range fecs {
				os.Remove(filepath.Join(dir, FECsDir, fec, index.FileName))
			}
			b.StartTimer()
			require.NoError(b, s.Reindex(ctx))
		}
	})
	ix, err := s.BuildIndex(ctx, "fec0001")
	require.False(b, err != nil || len(ix.Entries) != benchLinks, "fixture: %d entries, %v", len(ix.Entries), err)
}

// BenchmarkReindexUnchanged: the same storage when nothing changed: every
// INDEX is built and compared, none written.
func BenchmarkReindexUnchanged(b *testing.B) {
	s := benchFixture(b, b.TempDir())
	require.NoError(b, s.Reindex(ctx))
	b.Run(fmt.Sprintf("%dx%d", benchFECs, benchLinks), func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			require.NoError(b, s.Reindex(ctx))
		}
	})
}
