package archive

import (
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// At the default level and below the frames have a 4 MiB window: the
// decoder at boot then holds 4 MiB per archive instead of 8 MiB (an 8 MiB
// frame as a single segment has the whole frame as its window). Frames
// carry no checksum of their own.
func TestPackZstdWindow(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	genTree(t, src, 2, 6<<20, 10) // more than one 8 MiB frame
	for _, level := range []int{0, 1, 3} {
		data := packTree(t, src, PackOptions{Format: index.FormatZstd, Level: level, Prefix: "opt/x"})
		var h zstd.Header
		require.NoError(t, h.Decode(data))
		assert.Equal(t, uint64(zstdChunk), h.FrameContentSize, "level %d: the first frame is a whole chunk", level)
		assert.False(t, h.SingleSegment, "level %d", level)
		assert.LessOrEqual(t, h.WindowSize, uint64(4<<20), "level %d: window", level)
		assert.False(t, h.HasCheckSum, "level %d: no frame checksum (the sha256 of the whole archive is checked)", level)
	}
}
