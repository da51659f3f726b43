package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClean(t *testing.T) {
	noTempGrace(t)
	s := newTestStorage(t)
	dir := filepath.Join(s.Base(), "software")
	// A live writer's temp file (flock held) and a dead one's (no flock).
	live, err := createTemp(dir, "live")
	require.NoError(t, err)
	defer live.Abort()
	dead := filepath.Join(dir, tmpPrefix+"dead-123")
	require.NoError(t, os.WriteFile(dead, []byte("partial"), 0o644))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Count(ProblemTempFile), "only the dead writer's file is a problem")
	removed, err := s.Clean(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"software/" + tmpPrefix + "dead-123"}, removed)
	_, err = os.Stat(live.Name())
	require.NoError(t, err, "the live writer's file must stay")
	r, _ = s.Verify(ctx)
	assert.Equal(t, []Problem{}, r.Problems)
}

// A temp file with no flock yet, but young, may belong to a writer that has
// just created it: Clean keeps it (and a Publish racing Clean never fails).
func TestCleanKeepsYoungTemp(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	young := filepath.Join(s.Base(), "software", tmpPrefix+"young-1")
	require.NoError(t, os.WriteFile(young, []byte("partial"), 0o644))
	removed, err := s.Clean(ctx)
	require.NoError(t, err)
	require.Len(t, removed, 0)
	_, err = os.Stat(young)
	require.NoError(t, err, "a young temp file was removed")
	old := time.Now().Add(-2 * tempGrace)
	require.NoError(t, os.Chtimes(young, old, old))
	removed, err = s.Clean(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"software/" + tmpPrefix + "young-1"}, removed)
}
