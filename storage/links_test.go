package storage

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

func TestLinksResolveByPath(t *testing.T) {
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindConfiguration, "Cfg", "1.0.0", "", blob(index.FormatGzip, 100, 3))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	must(t, s.Link(ctx, "fec01", index.KindConfiguration, "Cfg", "1.0.0"))
	base := s.Base()
	sw := filepath.Join(base, "fecs/fec01/software")
	ln := func(target, name string) { must(t, os.Symlink(target, filepath.Join(sw, name))) }
	// A chain: Chain -> Foo (a link) -> the archive.
	ln("Foo", "Chain")
	// Through a detour that a string comparison would get wrong.
	ln("../../../software/Bar/../Foo/2.0.0/./Foo-2.0.0-x86_64.tar.zst", "Detour")
	must(t, os.MkdirAll(filepath.Join(base, "software/Bar"), 0o755))
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
	must(t, os.Symlink("Foo/2.0.0", filepath.Join(base, "software/FooCurrent")))
	ln("../../../software/FooCurrent/Foo-2.0.0-x86_64.tar.zst", "ViaDirLink")

	links, err := s.Links(ctx)
	must(t, err)
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
		eq(t, l.FEC, "fec01", name)
		eq(t, l.Kind, index.KindSoftware, name)
		eq(t, l.Name, name, name)
		eq(t, l.Target, want.target, name+" target")
		eq(t, l.Software, want.software, name+" software")
		eq(t, l.Version, want.version, name+" version")
		eq(t, l.TargetKind, want.kind, name+" kind")
		if want.problem == "" {
			eq(t, l.Problem, "", name+" problem")
		} else {
			contains(t, l.Problem, want.problem, name)
		}
	}
	cfg := got["fecs/fec01/configuration/Cfg"]
	eq(t, cfg.TargetKind, index.KindConfiguration)
	eq(t, cfg.Software, "Cfg")

	// Uses: by path. 2.0.0 is used by Detour, Abs, Whole, ViaDirLink.
	users, err := s.Uses(ctx, index.KindSoftware, "Foo", "2.0.0")
	must(t, err)
	var names []string
	for _, u := range users {
		names = append(names, path.Base(u.Link))
	}
	sort.Strings(names)
	eq(t, strings.Join(names, ","), "Abs,Detour,ViaDirLink,Whole")
	users, err = s.Uses(ctx, index.KindSoftware, "Foo", "3.0.0")
	must(t, err)
	names = nil
	for _, u := range users {
		names = append(names, path.Base(u.Link))
	}
	sort.Strings(names)
	eq(t, strings.Join(names, ","), "Whole", "a folder link uses every version, even future ones")

	// BuildIndex refuses a FEC with a broken link, naming it.
	_, err = s.BuildIndex(ctx, "fec01")
	wantErr(t, err, ErrBrokenLink)
}

func TestRemoveVersion(t *testing.T) {
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))

	before := snapshot(t, s.Base())
	err := s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0")
	wantErr(t, err, ErrInUse)
	contains(t, err.Error(), "fecs/fec01/software/Foo")
	eq(t, snapshot(t, s.Base()), before)
	wantErr(t, s.RemoveVersion(ctx, index.KindSoftware, "Foo", "9.0.0"), ErrNotFound)

	// An INDEX that still names it (link changed by hand, no reindex) also keeps it.
	link := filepath.Join(s.Base(), "fecs/fec01/software/Foo")
	must(t, os.Remove(link))
	must(t, os.Symlink("../../../software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", link))
	err = s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0")
	wantErr(t, err, ErrInUse)
	contains(t, err.Error(), "INDEX of fec01")

	must(t, s.Reindex(ctx, "fec01"))
	must(t, s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0"))
	vs, err := s.Versions(ctx, index.KindSoftware, "Foo")
	must(t, err)
	eq(t, vs, []string{"2.0.0"})
	eq(t, len(tempFiles(t, s.Base())), 0)
	r, err := s.Verify(ctx)
	must(t, err)
	eq(t, r.Problems, []Problem{})
}

func TestVerify(t *testing.T) {
	noTempGrace(t)
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Bar", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Baz", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 3))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar", "1.0.0"))
	r, err := s.Verify(ctx)
	must(t, err)
	eq(t, r.Problems, []Problem{}, "a fresh storage has problems")
	eq(t, r.FECs, 2)
	eq(t, r.Archives, 3)

	base := s.Base()
	// Break things by hand.
	w := func(rel string, data []byte) { must(t, os.WriteFile(filepath.Join(base, rel), data, 0o644)) }
	w("software/Baz/1.0.0/Baz-1.0.0-x86_64.tar.zst", blob(index.FormatZstd, 100, 99))             // changed after publishing
	must(t, os.Remove(filepath.Join(base, "software/Bar/1.0.0/Bar-1.0.0-x86_64.tar.zst.sha256"))) // sidecar lost
	w("software/Bar/1.0.0/notes.txt", []byte("hi"))                                               // unknown
	must(t, os.Symlink("../../../software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", filepath.Join(base, "fecs/ppc01/software/Foo")))
	must(t, os.Symlink("../../../software/Gone/1.0.0/Gone-1.0.0-x86_64.tar.zst", filepath.Join(base, "fecs/fec01/software/Gone")))
	w("fecs/fec01/stray", nil)
	must(t, os.Mkdir(filepath.Join(base, "fecs/fec 02"), 0o755))
	must(t, os.Mkdir(filepath.Join(base, "fecs/fec03"), 0o755))
	w("fecs/fec03/INDEX", []byte("garbage"))
	// A changed INDEX entry: size.
	ib, _ := os.ReadFile(filepath.Join(base, "fecs/fec01/INDEX"))
	w("fecs/fec01/INDEX", bytes.Replace(ib, []byte(" 100 software/Foo"), []byte(" 101 software/Foo"), 1))
	w("software/"+tmpPrefix+"leftover", []byte("x"))

	r, err = s.Verify(ctx)
	must(t, err)
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
		truth(t, p.Path != "" && p.Message != "" && p.Fix != "", "incomplete problem: ", p)
	}
	js, err := json.Marshal(r)
	must(t, err)
	contains(t, string(js), `"kind":"arch-mismatch"`)
	contains(t, string(js), `"fix":`)

	// Stale: relink by hand to another version, same arch.
	s2 := newTestStorage(t)
	mustAddFEC(t, s2, "fec01", "x86_64")
	mustPublish(t, s2, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s2, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	must(t, s2.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	l := filepath.Join(s2.Base(), "fecs/fec01/software/Foo")
	must(t, os.Remove(l))
	must(t, os.Symlink("../../../software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", l))
	r, err = s2.Verify(ctx)
	must(t, err)
	eq(t, r.Count(ProblemStaleIndex), 1)
	eq(t, len(r.Problems), 1, r.Problems)
	must(t, s2.Reindex(ctx))
	r, _ = s2.Verify(ctx)
	eq(t, r.Problems, []Problem{})
}

func TestClean(t *testing.T) {
	noTempGrace(t)
	s := newTestStorage(t)
	dir := filepath.Join(s.Base(), "software")
	// A live writer's temp file (flock held) and a dead one's (no flock).
	live, err := createTemp(dir, "live")
	must(t, err)
	defer live.Abort()
	dead := filepath.Join(dir, tmpPrefix+"dead-123")
	must(t, os.WriteFile(dead, []byte("partial"), 0o644))
	r, err := s.Verify(ctx)
	must(t, err)
	eq(t, r.Count(ProblemTempFile), 1, "only the dead writer's file is a problem")
	removed, err := s.Clean(ctx)
	must(t, err)
	eq(t, removed, []string{"software/" + tmpPrefix + "dead-123"})
	_, err = os.Stat(live.Name())
	must(t, err, "the live writer's file must stay")
	r, _ = s.Verify(ctx)
	eq(t, r.Problems, []Problem{})
}

// A temp file with no flock yet, but young, may belong to a writer that has
// just created it: Clean keeps it (and a Publish racing Clean never fails).
func TestCleanKeepsYoungTemp(t *testing.T) {
	s := newTestStorage(t)
	young := filepath.Join(s.Base(), "software", tmpPrefix+"young-1")
	must(t, os.WriteFile(young, []byte("partial"), 0o644))
	removed, err := s.Clean(ctx)
	must(t, err)
	eq(t, len(removed), 0)
	_, err = os.Stat(young)
	must(t, err, "a young temp file was removed")
	old := time.Now().Add(-2 * tempGrace)
	must(t, os.Chtimes(young, old, old))
	removed, err = s.Clean(ctx)
	must(t, err)
	eq(t, removed, []string{"software/" + tmpPrefix + "young-1"})
}

// TestBrokenFECNothingChanges: while a FEC has a broken entry, a change to
// another entry is refused and undone (the INDEX could not be regenerated);
// a change that repairs the broken entry goes through.
func TestBrokenFECNothingChanges(t *testing.T) {
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Bar", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 3))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar", "1.0.0"))
	must(t, s.AddGlobalScript(ctx, "10-net", strings.NewReader("#!/bin/sh\n")))
	// Bar's version disappears by hand.
	must(t, os.RemoveAll(filepath.Join(s.Base(), "software/Bar/1.0.0")))
	before := snapshot(t, s.Base())
	for what, op := range map[string]func() error{
		"switch":    func() error { return s.Link(ctx, "fec01", index.KindSoftware, "Foo", "2.0.0") },
		"unlink":    func() error { return s.Unlink(ctx, "fec01", index.KindSoftware, "Foo") },
		"link init": func() error { return s.LinkInit(ctx, "fec01", "10-net") },
	} {
		err := op()
		wantErr(t, err, ErrBrokenLink, what)
		contains(t, err.Error(), "fecs/fec01/software/Bar", what)
		eq(t, snapshot(t, s.Base()), before, what+" changed the storage")
	}
	// Removing the broken link repairs the FEC.
	must(t, s.Unlink(ctx, "fec01", index.KindSoftware, "Bar"))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "2.0.0"))
	r, err := s.Verify(ctx)
	must(t, err)
	eq(t, r.Problems, []Problem{})
}
