package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

func publishReq(name, ver string, seed int64) PublishRequest {
	return PublishRequest{Kind: index.KindSoftware, Name: name, Version: version.MustParse(ver), Arch: "x86_64",
		Body: bytes.NewReader(blob(index.FormatGzip, 100, seed))}
}

// handPublished puts an archive of <name>/<ver> into the tree the way
// another tool (or an older fecdeploy) would have: without storage.Publish.
func handPublished(t *testing.T, s *Storage, name, ver string) {
	t.Helper()
	dir := filepath.Join(s.Base(), SoftwareDir, name, ver)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	file, err := ArchiveFileName(index.KindSoftware, name, ver, "x86_64", index.FormatGzip)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), blob(index.FormatGzip, 100, 9), 0o644))
}

// Before this check lived in storage.Publish, v1.2.3, 01.2.3 and 1.2.3 of
// one software were accepted side by side (only the publish facade refused
// them). The version is a version.Version now (v1.2.3 and 01.2.3 do not
// parse), and a version colliding with one already in the tree is refused.
func TestPublishRefusesCollidingVersions(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	for _, v := range []string{"v1.2.3", "01.2.3", "1.2.3+b1", "1.2"} {
		_, err := version.Parse(v)
		require.ErrorIs(t, err, version.ErrInvalid, v)
	}

	_, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Arch: "x86_64",
		Body: bytes.NewReader(blob(index.FormatGzip, 100, 1))})
	require.ErrorIs(t, err, version.ErrInvalid, "the zero Version")
	require.ErrorIs(t, err, ErrBadRequest)

	handPublished(t, s, "Foo", "v1.2.3")
	handPublished(t, s, "Foo", "01.2.3")
	rep, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Count(ProblemVersionCollide), "verify reports both: %v", rep.Problems)
	before := snapshot(t, s.Base())
	_, err = s.Publish(ctx, publishReq("Foo", "1.2.3", 2))
	require.ErrorIs(t, err, version.ErrCollides)
	assert.Contains(t, err.Error(), `"01.2.3", "v1.2.3"`)
	assert.Equal(t, before, snapshot(t, s.Base()), "nothing may be written")

	_, err = s.Publish(ctx, publishReq("Bar", "5.1.0-rc.1", 3))
	require.NoError(t, err)
	before = snapshot(t, s.Base())
	_, err = s.Publish(ctx, publishReq("Bar", "5.1.0-RC.1", 4))
	require.ErrorIs(t, err, version.ErrCollides)
	assert.Equal(t, before, snapshot(t, s.Base()), "nothing may be written")

	// Republishing the same name is no collision; another software is not
	// affected; an empty version folder (a killed publish) is no version.
	_, err = s.Publish(ctx, publishReq("Bar", "5.1.0-rc.1", 3))
	require.NoError(t, err)
	_, err = s.Publish(ctx, publishReq("Baz", "5.1.0-RC.1", 4))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(s.Base(), SoftwareDir, "Qux", "2.0.0-A"), 0o755))
	_, err = s.Publish(ctx, publishReq("Qux", "2.0.0-a", 5))
	require.NoError(t, err)
}

// Two colliding versions published at the same moment: the check runs
// under the storage lock, so exactly one succeeds every round (before, both
// did in most rounds).
func TestPublishCollisionRace(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	for round := range 20 {
		vs := [2]string{fmt.Sprintf("5.%d.0-rc.1", round), fmt.Sprintf("5.%d.0-RC.1", round)}
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range vs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.Publish(ctx, publishReq("Foo", vs[i], int64(round*2+i)))
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			require.ErrorIs(t, err, version.ErrCollides, "round %d, %s", round, vs[i])
		}
		require.Equal(t, 1, ok, "round %d: exactly one of %v may be published", round, vs)
		n := 0
		for _, v := range vs {
			if _, err := os.Stat(filepath.Join(s.Base(), SoftwareDir, "Foo", v)); err == nil {
				n++
			}
		}
		require.Equal(t, 1, n, "round %d: the loser's version folder is removed", round)
	}
	assert.Empty(t, tempFiles(t, s.Base()))
	rep, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
}
