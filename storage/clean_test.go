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

// A publish killed before its archive was renamed into place leaves a
// version folder without an archive: Verify reports it, Clean removes it
// (with the killed writer's temporary file) once it is older than the
// temporary files' grace; a young one (maybe a publish between its mkdir and
// its temporary file) and one holding other files stay.
func TestCleanRemovesArchivelessVersion(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	publishOld(t, s, "A", "1.0.0")
	base := s.Base()
	killed := filepath.Join(base, SoftwareDir, "A", "1.1.0")
	require.NoError(t, os.Mkdir(killed, 0o755))
	tmp := filepath.Join(killed, tmpPrefix+"A-1.1.0-x86_64.tar.zst-1")
	require.NoError(t, os.WriteFile(tmp, []byte("part"), 0o644))
	require.NoError(t, os.Chtimes(tmp, longAgo, longAgo))
	backdate(t, s, "A", "1.1.0")
	emptied := filepath.Join(base, SoftwareDir, "A", "1.2.0") // a previous clean took its temp file
	require.NoError(t, os.Mkdir(emptied, 0o755))
	backdate(t, s, "A", "1.2.0")
	cfg := filepath.Join(base, ConfigDir, "C", "2")
	require.NoError(t, os.MkdirAll(cfg, 0o755))
	require.NoError(t, os.Chtimes(cfg, longAgo, longAgo))
	young := filepath.Join(base, SoftwareDir, "A", "1.3.0")
	require.NoError(t, os.Mkdir(young, 0o755))
	other := filepath.Join(base, SoftwareDir, "A", "1.4.0")
	require.NoError(t, os.Mkdir(other, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644))
	backdate(t, s, "A", "1.4.0")

	r, err := s.Verify(ctx)
	require.NoError(t, err)
	var empty []string
	for _, p := range r.Problems {
		if p.Kind == ProblemEmptyVersion {
			empty = append(empty, p.Path+": "+p.Fix)
		}
	}
	assert.Equal(t, []string{
		"configuration/C/2: run Clean (fecctl verify -clean); it removes it",
		"software/A/1.1.0: run Clean (fecctl verify -clean); it removes it",
		"software/A/1.2.0: run Clean (fecctl verify -clean); it removes it",
		"software/A/1.4.0: publish the version again, or remove the folder by hand",
	}, empty)

	removed, err := s.Clean(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"software/A/1.1.0/" + filepath.Base(tmp), "software/A/1.1.0", "software/A/1.2.0", "configuration/C/2",
	}, removed)
	assert.Equal(t, "1.0.0 1.3.0 1.4.0", versionsOnDisk(t, s, "A"), "the young folder and the one with other files stay")
	assert.FileExists(t, filepath.Join(other, "notes.txt"))

	r, err = s.Verify(ctx)
	require.NoError(t, err)
	require.Len(t, r.Problems, 2, "%v", r.Problems) // 1.4.0: empty-version and unknown-file
	assert.Equal(t, 1, r.Count(ProblemEmptyVersion))
	assert.Equal(t, "software/A/1.4.0", r.Problems[0].Path)
}
