package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// genTree writes a tree like an installed FESA deploy unit: a few large
// binaries of mixed compressibility and many small instance files.
func genTree(tb testing.TB, dir string, bigFiles, bigSize, smallFiles int) int64 {
	tb.Helper()
	rng := rand.New(rand.NewSource(42))
	var total int64
	words := []string{"<field>", "value", "</field>", "DEVICE", "timing", "0.000", "\n", "  "}
	for i := 0; i < bigFiles; i++ {
		b := make([]byte, bigSize)
		for j := 0; j < len(b); {
			if rng.Intn(4) == 0 { // incompressible run
				n := min(len(b)-j, 64+rng.Intn(512))
				rng.Read(b[j : j+n])
				j += n
			} else {
				j += copy(b[j:], words[rng.Intn(len(words))])
			}
		}
		p := filepath.Join(dir, "bin", fmt.Sprintf("prog%d", i))
		require.NoError(tb, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(tb, os.WriteFile(p, b, 0o755))
		total += int64(len(b))
	}
	for i := 0; i < smallFiles; i++ {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "<instance name=\"DEV%05d\">\n", i)
		for f := 0; f < 20; f++ {
			fmt.Fprintf(&buf, "  <field name=\"p%d\">%d</field>\n", f, rng.Intn(100000))
		}
		buf.WriteString("</instance>\n")
		p := filepath.Join(dir, "instances", fmt.Sprintf("d%02d", i%20), fmt.Sprintf("dev%05d.xml", i))
		require.NoError(tb, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(tb, os.WriteFile(p, buf.Bytes(), 0o644))
		total += int64(buf.Len())
	}
	return total
}

// The output must not depend on the number of CPUs: zstd frames are cut at
// fixed input offsets, pgzip blocks too.
func TestPackIndependentOfCPUs(t *testing.T) {
	src := t.TempDir()
	genTree(t, src, 3, 7<<20, 50) // > 2 zstd chunks
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip} {
		old := runtime.GOMAXPROCS(1)
		one := packTree(t, src, PackOptions{Format: f, Prefix: "opt/x"})
		runtime.GOMAXPROCS(4)
		four := packTree(t, src, PackOptions{Format: f, Prefix: "opt/x"})
		runtime.GOMAXPROCS(old)
		assert.Equal(t, one, four, "%s: GOMAXPROCS 1 and 4 give different bytes", f)
		// And it round-trips (several frames).
		root := t.TempDir()
		res, err := Unpack(context.Background(), bytes.NewReader(one), root, UnpackOptions{})
		require.NoError(t, err)
		assert.Equal(t, 53, res.Files)
	}
}

func BenchmarkPack(b *testing.B) {
	src := b.TempDir()
	total := genTree(b, src, 4, 8<<20, 2000)
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip} {
		b.Run(string(f), func(b *testing.B) {
			b.SetBytes(total)
			for i := 0; i < b.N; i++ {
				if _, err := Pack(context.Background(), io.Discard, src, PackOptions{Format: f, Prefix: "opt/fesa/X/1.0.0"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStage(b *testing.B) {
	src := b.TempDir()
	total := genTree(b, src, 4, 8<<20, 2000)
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip} {
		b.Run(string(f), func(b *testing.B) {
			data := packTree(b, src, PackOptions{Format: f, Prefix: "opt/fesa/X/1.0.0"})
			b.SetBytes(total)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				root := b.TempDir()
				b.StartTimer()
				s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
