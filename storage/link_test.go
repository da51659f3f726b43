package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrokenFECNothingChanges: while a FEC has a broken entry, a change to
// another entry is refused and undone (the INDEX could not be regenerated);
// a change that repairs the broken entry goes through.
func TestBrokenFECNothingChanges(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Bar", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 3))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar", "1.0.0"))
	require.NoError(t, s.AddGlobalScript(ctx, "10-net", strings.NewReader("#!/bin/sh\n")))
	// Bar's version disappears by hand.
	require.NoError(t, os.RemoveAll(filepath.Join(s.Base(), "software/Bar/1.0.0")))
	before := snapshot(t, s.Base())
	for what, op := range map[string]func() error{
		"switch":    func() error { return s.Link(ctx, "fec01", index.KindSoftware, "Foo", "2.0.0") },
		"unlink":    func() error { return s.Unlink(ctx, "fec01", index.KindSoftware, "Foo") },
		"link init": func() error { return s.LinkInit(ctx, "fec01", "10-net") },
	} {
		err := op()
		require.ErrorIs(t, err, ErrBrokenLink, what)
		assert.Contains(t, err.Error(), "fecs/fec01/software/Bar", what)
		assert.Equal(t, before, snapshot(t, s.Base()), what+" changed the storage")
	}
	// Removing the broken link repairs the FEC.
	require.NoError(t, s.Unlink(ctx, "fec01", index.KindSoftware, "Bar"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "2.0.0"))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems)
}
