package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLinksResolveByPath(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindConfiguration, "Cfg", "1.0.0", "", blob(index.FormatGzip, 100, 3))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindConfiguration, "Cfg", "1.0.0"))
	base := s.Base()
	sw := filepath.Join(base, "fecs/fec01/software")
	ln := func(target, name string) { require.NoError(t, os.Symlink(target, filepath.Join(sw, name))) }
	// A chain: Chain -> Foo (a link) -> the archive.
	ln("Foo", "Chain")
	// Through a detour that a string comparison would get wrong.
	ln("../../../software/Bar/../Foo/2.0.0/./Foo-2.0.0-x86_64.tar.zst", "Detour")
	require.NoError(t, os.MkdirAll(filepath.Join(base, "software/Bar"), 0o755))
	// Absolute, inside the base.
	ln(filepath.Join(base, "software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst"), "Abs")
	// A directory link: the whole software folder.
	ln("../../../software/Foo", "Whole")
	// Dangling, leaving the storage, looping, trailing slash on a file.
	ln("../../../software/Foo/3.0.0/Foo-3.0.0-x86_64.tar.zst", "Dangling")
	ln("../../../../etc/passwd", "Escape")
	ln("/etc/passwd", "AbsEscape")
	ln("Loop2", "Loop1")
	ln("Loop1", "Loop2")
	ln("../../../software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst/", "Slash")
	// A directory symlink in the middle of the path.
	require.NoError(t, os.Symlink("Foo/2.0.0", filepath.Join(base, "software/FooCurrent")))
	ln("../../../software/FooCurrent/Foo-2.0.0-x86_64.tar.zst", "ViaDirLink")

	links, err := s.Links(ctx)
	require.NoError(t, err)
	got := map[string]Link{}
	for _, l := range links {
		got[l.Path] = l
	}
	for name, want := range map[string]struct {
		target, software, version string
		kind                      index.Kind
		problem                   string
	}{
		"Foo":        {"software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", "Foo", "1.0.0", index.KindSoftware, ""},
		"Chain":      {"software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", "Foo", "1.0.0", index.KindSoftware, ""},
		"Detour":     {"software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", "Foo", "2.0.0", index.KindSoftware, ""},
		"Abs":        {"software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", "Foo", "2.0.0", index.KindSoftware, ""},
		"Whole":      {"software/Foo", "Foo", "", index.KindSoftware, ""},
		"ViaDirLink": {"software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", "Foo", "2.0.0", index.KindSoftware, ""},
		"Dangling":   {"", "", "", "", "does not exist"},
		"Escape":     {"", "", "", "", "out of the storage"},
		"AbsEscape":  {"", "", "", "", "outside the storage"},
		"Loop1":      {"", "", "", "", "too many levels"},
		"Slash":      {"", "", "", "", "not a directory"},
	} {
		l, ok := got["fecs/fec01/software/"+name]
		if !ok {
			t.Errorf("link %s not listed", name)
			continue
		}
		assert.Equal(t, "fec01", l.FEC, name)
		assert.Equal(t, index.KindSoftware, l.Kind, name)
		assert.Equal(t, name, l.Name, name)
		assert.Equal(t, want.target, l.Target, name+" target")
		assert.Equal(t, want.software, l.Software, name+" software")
		assert.Equal(t, want.version, l.Version, name+" version")
		assert.Equal(t, want.kind, l.TargetKind, name+" kind")
		if want.problem == "" {
			assert.Equal(t, "", l.Problem, name+" problem")
		} else {
			assert.Contains(t, l.Problem, want.problem, name)
		}
	}
	cfg := got["fecs/fec01/configuration/Cfg"]
	assert.Equal(t, index.KindConfiguration, cfg.TargetKind)
	assert.Equal(t, "Cfg", cfg.Software)

	// Uses: by path. 2.0.0 is used by Detour, Abs, Whole, ViaDirLink.
	users, err := s.Uses(ctx, index.KindSoftware, "Foo", "2.0.0")
	require.NoError(t, err)
	var names []string
	for _, u := range users {
		names = append(names, path.Base(u.Link))
	}
	sort.Strings(names)
	assert.Equal(t, "Abs,Detour,ViaDirLink,Whole", strings.Join(names, ","))
	users, err = s.Uses(ctx, index.KindSoftware, "Foo", "3.0.0")
	require.NoError(t, err)
	names = nil
	for _, u := range users {
		names = append(names, path.Base(u.Link))
	}
	sort.Strings(names)
	assert.Equal(t, "Whole", strings.Join(names, ","), "a folder link uses every version, even future ones")

	// BuildIndex refuses a FEC with a broken link, naming it.
	_, err = s.BuildIndex(ctx, "fec01")
	require.ErrorIs(t, err, ErrBrokenLink)
}

func TestRemoveVersion(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))

	before := snapshot(t, s.Base())
	err := s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0")
	require.ErrorIs(t, err, ErrInUse)
	assert.Contains(t, err.Error(), "fecs/fec01/software/Foo")
	assert.Equal(t, before, snapshot(t, s.Base()))
	require.ErrorIs(t, s.RemoveVersion(ctx, index.KindSoftware, "Foo", "9.0.0"), ErrNotFound)

	// An INDEX that still names it (link changed by hand, no reindex) also keeps it.
	link := filepath.Join(s.Base(), "fecs/fec01/software/Foo")
	require.NoError(t, os.Remove(link))
	require.NoError(t, os.Symlink("../../../software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", link))
	err = s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0")
	require.ErrorIs(t, err, ErrInUse)
	assert.Contains(t, err.Error(), "INDEX of fec01")

	require.NoError(t, s.Reindex(ctx, "fec01"))
	require.NoError(t, s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0"))
	vs, err := s.Versions(ctx, index.KindSoftware, "Foo")
	require.NoError(t, err)
	assert.Equal(t, []string{"2.0.0"}, vs)
	assert.Equal(t, 0, len(tempFiles(t, s.Base())))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems)
}

func TestVerify(t *testing.T) {
	noTempGrace(t)
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Bar", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Baz", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 3))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar", "1.0.0"))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems, "a fresh storage has problems")
	assert.Equal(t, 2, r.FECs)
	assert.Equal(t, 3, r.Archives)

	base := s.Base()
	// Break things by hand.
	w := func(rel string, data []byte) { require.NoError(t, os.WriteFile(filepath.Join(base, rel), data, 0o644)) }
	w("software/Baz/1.0.0/Baz-1.0.0-x86_64.tar.zst", blob(index.FormatZstd, 100, 99))                        // changed after publishing
	require.NoError(t, os.Remove(filepath.Join(base, "software/Bar/1.0.0/Bar-1.0.0-x86_64.tar.zst.sha256"))) // sidecar lost
	w("software/Bar/1.0.0/notes.txt", []byte("hi"))                                                          // unknown
	require.NoError(t, os.Symlink("../../../software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", filepath.Join(base, "fecs/ppc01/software/Foo")))
	require.NoError(t, os.Symlink("../../../software/Gone/1.0.0/Gone-1.0.0-x86_64.tar.zst", filepath.Join(base, "fecs/fec01/software/Gone")))
	w("fecs/fec01/stray", nil)
	require.NoError(t, os.Mkdir(filepath.Join(base, "fecs/fec 02"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(base, "fecs/fec03"), 0o755))
	w("fecs/fec03/INDEX", []byte("garbage"))
	// A changed INDEX entry: size.
	ib, _ := os.ReadFile(filepath.Join(base, "fecs/fec01/INDEX"))
	w("fecs/fec01/INDEX", bytes.Replace(ib, []byte(" 100 software/Foo"), []byte(" 101 software/Foo"), 1))
	w("software/"+tmpPrefix+"leftover", []byte("x"))

	r, err = s.Verify(ctx)
	require.NoError(t, err)
	for k, want := range map[ProblemKind]int{
		ProblemHashMismatch:    1, // Baz vs sidecar
		ProblemMissingChecksum: 1,
		ProblemUnknownFile:     3, // notes.txt, stray, fec03 without fec.conf
		ProblemBadName:         1, // "fec 02"
		ProblemArchMismatch:    1,
		ProblemDanglingLink:    1,
		ProblemSizeMismatch:    1,
		ProblemTempFile:        1,
	} {
		if got := r.Count(k); got != want {
			t.Errorf("%s: %d problems, want %d", k, got, want)
		}
	}
	for _, p := range r.Problems {
		assert.True(t, p.Path != "" && p.Message != "" && p.Fix != "", fmt.Sprint("incomplete problem: ", p))
	}
	js, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"kind":"arch-mismatch"`)
	assert.Contains(t, string(js), `"fix":`)

	// Stale: relink by hand to another version, same arch.
	s2 := newTestStorage(t)
	mustAddFEC(t, s2, "fec01", "x86_64")
	mustPublish(t, s2, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s2, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	require.NoError(t, s2.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	l := filepath.Join(s2.Base(), "fecs/fec01/software/Foo")
	require.NoError(t, os.Remove(l))
	require.NoError(t, os.Symlink("../../../software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", l))
	r, err = s2.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Count(ProblemStaleIndex))
	require.Len(t, r.Problems, 1, r.Problems)
	require.NoError(t, s2.Reindex(ctx))
	r, _ = s2.Verify(ctx)
	assert.Equal(t, []Problem{}, r.Problems)
}

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
