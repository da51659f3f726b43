package publish

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/require"
)

func setup(t *testing.T) (*storage.Storage, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Init(filepath.Join(dir, "ws"))
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(context.Background(), "scu01", storage.FECConfig{Arch: "x86_64"}))
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "bin"), 0o755))
	return st, src
}

func release(t *testing.T, st *storage.Storage, src, v string, link []string, prune bool) Result {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(src, "bin", "foo"), []byte("#!/bin/sh\necho "+v+"\n"), 0o755))
	res, err := Release(context.Background(), st, Request{
		Name: "Foo_DU", Version: v, Arch: "x86_64", SourceDir: src, Prefix: "opt/fesa/Foo_DU/" + v,
		Link: link, Prune: prune, Policy: version.Policy{Grace: version.NoGrace},
	})
	require.NoError(t, err, "release %s", v)
	return res
}

// After a productive release at most 3 productive versions stay, and a
// linked one is never removed, however old.
func TestReleasePrunes(t *testing.T) {
	t.Parallel()
	st, src := setup(t)
	release(t, st, src, "1.0.0", []string{"scu01"}, true)
	release(t, st, src, "1.1.0", nil, true)
	release(t, st, src, "1.2.0", nil, true)
	release(t, st, src, "1.3.0", nil, true)
	res := release(t, st, src, "1.4.0", nil, true)
	got, err := st.Versions(t.Context(), "software", "Foo_DU")
	require.NoError(t, err)
	want := map[string]bool{"1.0.0": true, "1.2.0": true, "1.3.0": true, "1.4.0": true}
	require.False(t, len(got) != len(want), "versions %v, want %v", got, want)
	for _, v := range got {
		require.True(t, want[v], "versions %v, want %v", got, want)
	}
	require.False(t, res.Prune == nil || len(res.Prune.Removed) != 1 || res.Prune.Removed[0].Version != "1.1.0", "plan: %+v", res.Prune)
	// A dev release never triggers pruning.
	if res := release(t, st, src, "dev", nil, true); res.Prune != nil {
		t.Fatalf("dev release pruned: %+v", res.Prune)
	}
}

// A pack that fails half-way publishes nothing.
func TestReleasePackFailure(t *testing.T) {
	t.Parallel()
	st, src := setup(t)
	require.NoError(t, os.WriteFile(filepath.Join(src, "bin", "foo"), []byte("x"), 0o755))
	// A symlink out of the staged tree makes Pack fail after it started.
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(src, "bin", "zz-escape")))
	_, err := Release(context.Background(), st, Request{
		Name: "Foo_DU", Version: "1.0.0", Arch: "x86_64", SourceDir: src, Prefix: "opt/fesa/Foo_DU/1.0.0", Link: []string{"scu01"},
	})
	require.Error(t, err, "release with an escaping symlink succeeded")
	if vs, _ := st.Versions(t.Context(), "software", "Foo_DU"); len(vs) != 0 {
		t.Fatalf("published %v after a failed pack", vs)
	}
	rep, err := st.Verify(context.Background())
	require.False(t, err != nil || !rep.OK(), "verify after failed release: %v %+v", err, rep.Problems)
}

func TestReleaseBadRequest(t *testing.T) {
	t.Parallel()
	st, src := setup(t)
	for _, req := range []Request{
		{Name: "Foo_DU", Version: "1.0.0", Arch: "x86_64", SourceDir: src},                      // no prefix
		{Name: "Foo_DU", Version: "1.0.0", Arch: "x86_64", SourceDir: src, Prefix: "/opt/foo"},  // absolute
		{Name: "Foo_DU", Version: "1.0.0", Arch: "x86_64", SourceDir: src, Prefix: "opt/../.."}, // climbs out
		{Kind: "data", Name: "Foo_DU", Version: "1.0.0", SourceDir: src, Prefix: "opt/foo"},     // wrong kind
	} {
		if _, err := Release(context.Background(), st, req); !errors.Is(err, storage.ErrBadRequest) {
			t.Errorf("%+v: err = %v, want ErrBadRequest", req, err)
		}
	}
	if _, err := Release(context.Background(), st, Request{Name: "Foo_DU", Version: "01.0.0", Arch: "x86_64", SourceDir: src, Prefix: "opt/foo"}); !errors.Is(err, version.ErrInvalid) {
		t.Errorf("version 01.0.0: %v", err)
	}
	if vs, _ := st.Versions(t.Context(), "software", "Foo_DU"); len(vs) != 0 {
		t.Fatalf("published %v", vs)
	}
}

// 1.0.0 exists: a build that calls itself 1.0 or 1.0.0-like is refused.
func TestReleaseCollision(t *testing.T) {
	t.Parallel()
	st, src := setup(t)
	release(t, st, src, "1.0.0", nil, false)
	// "1.0" is not strict semver (ErrInvalid); a case variant of a
	// prerelease collides: 1.1.0-RC.1 vs 1.1.0-rc.1.
	release(t, st, src, "1.1.0-rc.1", nil, false)
	_, err := Release(context.Background(), st, Request{Name: "Foo_DU", Version: "1.1.0-RC.1", Arch: "x86_64", SourceDir: src, Prefix: "opt/foo"})
	require.ErrorIs(t, err, version.ErrCollides, "1.1.0-RC.1 next to 1.1.0-rc.1: %v", err)
	if vs, _ := st.Versions(t.Context(), "software", "Foo_DU"); len(vs) != 2 {
		t.Fatalf("versions %v", vs)
	}
}
