package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// At the default level and below the frames hold 4 MiB of input each, as
// single segments (the window is the frame): the decoder at boot keeps
// 4 MiB per archive, never moves history within a frame, and frames carry
// no checksum of their own.
func TestPackZstdFrames(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	genTree(t, src, 2, 3<<20, 10) // more than one frame
	for _, level := range []int{0, 1, 3} {
		data := packTree(t, src, PackOptions{Format: index.FormatZstd, Level: level, Prefix: "opt/x"})
		var h zstd.Header
		require.NoError(t, h.Decode(data))
		assert.Equal(t, uint64(4<<20), h.FrameContentSize, "level %d: the first frame is a whole chunk", level)
		assert.True(t, h.SingleSegment, "level %d: the window is the frame", level)
		assert.False(t, h.HasCheckSum, "level %d: no frame checksum (the sha256 of the whole archive is checked)", level)
	}
}

// A decoder without goroutines of its own (what fec-boot uses when it
// unpacks several archives at once) reads multi-frame archives the same.
func TestStageDecoderConcurrencyOne(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	genTree(t, src, 2, 3<<20, 20) // several frames
	data := packTree(t, src, PackOptions{Format: index.FormatZstd, Prefix: "opt/x"})
	for _, conc := range []int{0, 1} {
		root := t.TempDir()
		s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{DecoderConcurrency: conc})
		require.NoError(t, err, "concurrency %d", conc)
		res, err := s.Commit()
		require.NoError(t, err)
		assert.Equal(t, 22, res.Files, "concurrency %d", conc)
		got, err := os.ReadFile(filepath.Join(root, "opt/x/bin/prog1"))
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join(src, "bin/prog1"))
		require.NoError(t, err)
		assert.Equal(t, want, got, "concurrency %d", conc)
	}
}
