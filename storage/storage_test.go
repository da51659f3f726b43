package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

func TestInitOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Open(dir)
	require.ErrorIs(t, err, ErrNotStorage)
	assert.Equal(t, map[string]string{".": "dir"}, snapshot(t, dir), "Open must not create anything")

	s, err := Init(dir)
	require.NoError(t, err)
	for _, p := range []string{MarkerName, LockName} {
		st, err := os.Stat(filepath.Join(dir, p))
		assert.True(t, err == nil && st.Mode().IsRegular(), fmt.Sprint(p, " missing"))
	}
	for _, p := range []string{"fecs/global", "software", "configuration"} {
		st, err := os.Stat(filepath.Join(dir, p))
		assert.True(t, err == nil && st.IsDir(), fmt.Sprint(p, " missing"))
	}
	_, err = Open(dir)
	require.NoError(t, err)
	// Init again is Open.
	s2, err := Init(dir)
	require.NoError(t, err)
	assert.Equal(t, s2.Base(), s.Base())

	// A marker of another layout version is refused.
	require.NoError(t, os.WriteFile(filepath.Join(dir, MarkerName), []byte("fecdeploy-storage 2\n"), 0o644))
	_, err = Open(dir)
	require.ErrorIs(t, err, ErrNotStorage)
	assert.Contains(t, err.Error(), "fecdeploy-storage 2")
}

func TestAddFEC(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	conf, err := os.ReadFile(filepath.Join(s.Base(), "fecs/fec01/fec.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(conf), "arch=x86_64\ndecoders=gzip,xz,zstd\n")

	info, err := s.FEC(ctx, "ppc01")
	require.NoError(t, err)
	assert.Equal(t, info.Config.Decoders, []string{"gzip", "xz"}, "busybox FECs have no zstd by default")
	assert.False(t, info.Persistent)
	require.NoError(t, info.IndexError)
	require.Len(t, info.Entries, 0)

	ix := readIndex(t, s, "fec01")
	assert.Equal(t, ix.FEC, "fec01")
	assert.Equal(t, ix.Arch, "x86_64")

	fecs, err := s.FECs(ctx)
	require.NoError(t, err)
	assert.Equal(t, fecs, []string{"fec01", "ppc01"})

	before := snapshot(t, s.Base())
	err = s.AddFEC(ctx, "fec01", FECConfig{Arch: "x86_64"})
	require.ErrorIs(t, err, ErrExists)
	for _, tc := range []struct {
		name string
		c    FECConfig
		want error
	}{
		{"global", FECConfig{Arch: "x86_64"}, index.ErrBadName},
		{"fec 02", FECConfig{Arch: "x86_64"}, index.ErrBadName},
		{"../x", FECConfig{Arch: "x86_64"}, index.ErrBadName},
		{"fec02", FECConfig{Arch: ""}, index.ErrBadName},
		{"fec02", FECConfig{Arch: "noarch"}, ErrBadRequest},
		{"fec02", FECConfig{Arch: "x86_64", Decoders: []string{"lz4"}}, ErrBadRequest},
	} {
		err := s.AddFEC(ctx, tc.name, tc.c)
		require.ErrorIs(t, err, tc.want, fmt.Sprintf("%s %+v", tc.name, tc.c))
	}
	assert.Equal(t, snapshot(t, s.Base()), before, "refused AddFEC calls changed the tree")
}

func TestPublishImmutable(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	a := blob(index.FormatZstd, 10000, 1)
	p := mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", a)
	assert.Equal(t, p, Published{Path: "software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst", SHA256: sum(a), Size: int64(len(a)), Format: "zstd"})
	got, err := os.ReadFile(filepath.Join(s.Base(), p.Path))
	require.NoError(t, err)
	assert.Equal(t, got, a)
	side, err := os.ReadFile(filepath.Join(s.Base(), p.Path+ChecksumSuffix))
	require.NoError(t, err)
	assert.Equal(t, string(side), sum(a)+"  Foo_DU-1.2.0-x86_64.tar.zst\n")

	// Same bytes: no-op.
	p2 := mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", a)
	assert.True(t, p2.Unchanged)
	assert.Equal(t, p2.SHA256, p.SHA256)

	// Different bytes: refused, nothing changes.
	before := snapshot(t, s.Base())
	b := blob(index.FormatZstd, 10000, 2)
	_, err = s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo_DU", Version: version.MustParse("1.2.0"), Arch: "x86_64", Body: bytes.NewReader(b)})
	require.ErrorIs(t, err, ErrImmutable)
	assert.Equal(t, snapshot(t, s.Base()), before)
	assert.Equal(t, 0, len(tempFiles(t, s.Base())))

	// Forced: replaced.
	p3, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo_DU", Version: version.MustParse("1.2.0"), Arch: "x86_64", Body: bytes.NewReader(b), Force: true})
	require.NoError(t, err)
	assert.Equal(t, p3.SHA256, sum(b))
	got, _ = os.ReadFile(filepath.Join(s.Base(), p.Path))
	assert.Equal(t, got, b)

	// Another format of the same version is another file.
	g := blob(index.FormatGzip, 500, 3)
	p4 := mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", g)
	assert.Equal(t, p4.Path, "software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.gz")

	// dev is mutable.
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "dev", "x86_64", a)
	pd := mustPublish(t, s, index.KindSoftware, "Foo_DU", "dev", "x86_64", b)
	assert.False(t, pd.Unchanged)
	got, _ = os.ReadFile(filepath.Join(s.Base(), pd.Path))
	assert.Equal(t, got, b)

	// Configuration has no arch.
	c := mustPublish(t, s, index.KindConfiguration, "Foo_DU-instance", "1.2.0", "", blob(index.FormatXz, 100, 4))
	assert.Equal(t, c.Path, "configuration/Foo_DU-instance/1.2.0/Foo_DU-instance-1.2.0.tar.xz")
}

func TestPublishBadInput(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	before := snapshot(t, s.Base())
	good := blob(index.FormatZstd, 100, 2)
	for _, tc := range []struct {
		what string
		req  PublishRequest
		want error
	}{
		{"bad name", PublishRequest{Kind: index.KindSoftware, Name: "Foo/../x", Version: version.MustParse("1.0.0"), Arch: "x86_64"}, index.ErrBadName},
		{"space in name", PublishRequest{Kind: index.KindSoftware, Name: "Foo Bar", Version: version.MustParse("1.0.0"), Arch: "x86_64"}, index.ErrBadName},
		{"no version", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Arch: "x86_64"}, version.ErrInvalid},
		{"no arch", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("1.1.0")}, ErrBadRequest},
		{"bad arch", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("1.1.0"), Arch: "x86 64"}, index.ErrBadName},
		{"config with arch", PublishRequest{Kind: index.KindConfiguration, Name: "Foo", Version: version.MustParse("1.1.0"), Arch: "x86_64"}, ErrBadRequest},
		{"kind init", PublishRequest{Kind: index.KindInit, Name: "Foo", Version: version.MustParse("1.1.0")}, ErrBadRequest},
		{"kind data", PublishRequest{Kind: index.KindData, Name: "Foo", Version: version.MustParse("1.1.0")}, ErrBadRequest},
		{"not compressed", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("1.1.0"), Arch: "x86_64", Body: bytes.NewReader([]byte("#!/bin/sh\necho hi\n"))}, index.ErrUnknownFormat},
		{"empty body", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("1.1.0"), Arch: "x86_64", Body: bytes.NewReader(nil)}, index.ErrUnknownFormat},
	} {
		t.Run(tc.what, func(t *testing.T) {
			if tc.req.Body == nil {
				tc.req.Body = bytes.NewReader(good)
			}
			_, err := s.Publish(ctx, tc.req)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, snapshot(t, s.Base()), before, "nothing may be written")
		})
	}
	var ne *index.NameError
	_, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo:1", Version: version.MustParse("1.0.0"), Arch: "x86_64", Body: bytes.NewReader(good)})
	assert.True(t, errors.As(err, &ne), fmt.Sprint("want a *index.NameError, got ", err))
	assert.Contains(t, err.Error(), "':'")

	// A failing reader: the temp file goes, the version folder it created too.
	_, err = s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("2.0.0"), Arch: "x86_64",
		Body: &failingReader{data: good, err: errors.New("network gone")}})
	assert.True(t, err != nil, "no error")
	assert.Contains(t, err.Error(), "network gone")
	assert.Equal(t, snapshot(t, s.Base()), before)

	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Publish(cctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("2.0.0"), Arch: "x86_64", Body: bytes.NewReader(good)})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, snapshot(t, s.Base()), before)
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestLink(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	a1 := blob(index.FormatZstd, 1000, 1)
	a2 := blob(index.FormatZstd, 2000, 2)
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.0.0", "x86_64", a1)
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.1.0", "x86_64", a2)

	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
	link := filepath.Join(s.Base(), "fecs/fec01/software/Foo_DU")
	raw, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, raw, "../../../software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst")
	got, err := os.ReadFile(link)
	require.NoError(t, err)
	assert.Equal(t, got, a1)

	ix := readIndex(t, s, "fec01")
	require.False(t, len(ix.Entries) != 1, "%d entries, want 1: %+v", len(ix.Entries), ix.Entries)
	assert.Equal(t, ix.Entries[0], index.Entry{Kind: index.KindSoftware, Name: "Foo_DU", SHA256: sum(a1), Size: int64(len(a1)),
		Path: "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst", Format: "zstd", Version: "1.0.0"})

	// Switch.
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.1.0"))
	raw, _ = os.Readlink(link)
	assert.Equal(t, raw, "../../../software/Foo_DU/1.1.0/Foo_DU-1.1.0-x86_64.tar.zst")
	ix = readIndex(t, s, "fec01")
	assert.Equal(t, ix.Entries[0].Version, "1.1.0")
	assert.Equal(t, ix.Entries[0].SHA256, sum(a2))
	assert.Equal(t, 0, len(tempFiles(t, s.Base())))
}

func TestLinkRefusals(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.1.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.1.0", "ppc", blob(index.FormatZstd, 100, 3))
	mustPublish(t, s, index.KindSoftware, "Tool", "1.0.0", "noarch", blob(index.FormatGzip, 100, 4))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	before := snapshot(t, s.Base())

	for _, tc := range []struct {
		what, fec, name, version string
		want                     error
		msg                      []string
	}{
		{"unknown FEC", "fec99", "Foo", "1.0.0", ErrUnknownFEC, []string{"fec99", "fec01, ppc01"}},
		{"missing version", "fec01", "Foo", "9.9.9", ErrNotFound, []string{"9.9.9", "1.0.0, 1.1.0"}},
		{"missing software", "fec01", "Bar", "1.0.0", ErrNotFound, []string{"Bar"}},
		{"wrong arch", "ppc01", "Foo", "1.0.0", ErrArchMismatch, []string{"x86_64 only", "ppc01 is ppc"}},
		{"no zstd on busybox", "ppc01", "Foo", "1.1.0", ErrNoDecoder, []string{"ppc01", "Foo-1.1.0-ppc.tar.zst", "gzip"}},
		{"bad FEC name", "fec/01", "Foo", "1.0.0", index.ErrBadName, []string{"'/'"}},
		{"bad version", "fec01", "Foo", "1.0.0 ", index.ErrBadName, []string{"space"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := s.Link(ctx, tc.fec, index.KindSoftware, tc.name, tc.version)
			require.ErrorIs(t, err, tc.want)
			for _, m := range tc.msg {
				assert.Contains(t, err.Error(), m)
			}
			assert.Equal(t, snapshot(t, s.Base()), before, "nothing may change")
		})
	}
	// noarch goes anywhere.
	require.NoError(t, s.Link(ctx, "ppc01", index.KindSoftware, "Tool", "1.0.0"))
	// A file in the way is not replaced by a link.
	require.NoError(t, s.PutFile(ctx, "fec01", index.KindConfiguration, "Foo", bytes.NewReader(blob(index.FormatGzip, 50, 5))))
	mustPublish(t, s, index.KindConfiguration, "Foo", "1.0.0", "", blob(index.FormatGzip, 60, 6))
	before = snapshot(t, s.Base())
	err := s.Link(ctx, "fec01", index.KindConfiguration, "Foo", "1.0.0")
	require.ErrorIs(t, err, ErrExists)
	assert.Equal(t, snapshot(t, s.Base()), before)
}

func TestLinkPrefersFormat(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatGzip, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "noarch", blob(index.FormatZstd, 100, 3))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "ppc", blob(index.FormatGzip, 100, 4))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "ppc", blob(index.FormatZstd, 100, 5))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	require.NoError(t, s.Link(ctx, "ppc01", index.KindSoftware, "Foo", "1.0.0"))
	e, _ := readIndex(t, s, "fec01").Lookup(index.KindSoftware, "Foo")
	assert.Equal(t, e.Path, "software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst")
	e, _ = readIndex(t, s, "ppc01").Lookup(index.KindSoftware, "Foo")
	assert.Equal(t, e.Path, "software/Foo/1.0.0/Foo-1.0.0-ppc.tar.gz")
}

func TestInitScriptsAndFiles(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	require.NoError(t, s.AddFEC(ctx, "fec01", FECConfig{Arch: "x86_64", Persistent: true}))
	require.NoError(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader([]byte("#!/bin/sh\necho net\n"))))
	require.NoError(t, s.LinkInit(ctx, "fec01", "10-network"))
	require.NoError(t, s.PutFile(ctx, "fec01", index.KindInit, "20-local", bytes.NewReader([]byte("#!/bin/sh\necho local\n"))))
	require.NoError(t, s.PutFile(ctx, "fec01", index.KindData, "fesa-data", bytes.NewReader(blob(index.FormatGzip, 300, 1))))
	raw, err := os.Readlink(filepath.Join(s.Base(), "fecs/fec01/init/10-network"))
	require.NoError(t, err)
	assert.Equal(t, raw, "../../global/10-network")
	st, err := os.Stat(filepath.Join(s.Base(), "fecs/fec01/init/20-local"))
	require.NoError(t, err)
	assert.Equal(t, st.Mode().Perm(), os.FileMode(0o755))

	ix := readIndex(t, s, "fec01")
	require.False(t, len(ix.Entries) != 3, "%d entries, want 3: %+v", len(ix.Entries), ix.Entries)
	assert.Equal(t, ix.Entries[0].Path, "fecs/global/10-network")
	assert.Equal(t, ix.Entries[0].SHA256, sum([]byte("#!/bin/sh\necho net\n")))
	assert.Equal(t, ix.Entries[1].Path, "fecs/fec01/init/20-local")
	assert.Equal(t, ix.Entries[2], index.Entry{Kind: index.KindData, Name: "fesa-data", SHA256: sum(blob(index.FormatGzip, 300, 1)), Size: int64(len(blob(index.FormatGzip, 300, 1))),
		Path: "fecs/fec01/persistent-data/fesa-data.tar.gz", Format: "gzip"})

	// Changing a global script reindexes the FECs that link it.
	require.NoError(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader([]byte("#!/bin/sh\necho net2\n"))))
	ix = readIndex(t, s, "fec01")
	assert.Equal(t, ix.Entries[0].SHA256, sum([]byte("#!/bin/sh\necho net2\n")))

	err = s.LinkInit(ctx, "fec01", "99-missing")
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, s.Unlink(ctx, "fec01", index.KindInit, "10-network"))
	require.NoError(t, s.Unlink(ctx, "fec01", index.KindData, "fesa-data"))
	ix = readIndex(t, s, "fec01")
	require.False(t, len(ix.Entries) != 1, "%d entries, want 1: %+v", len(ix.Entries), ix.Entries)
	assert.Equal(t, ix.Entries[0].Name, "20-local")
	require.ErrorIs(t, s.Unlink(ctx, "fec01", index.KindSoftware, "Nope"), ErrNotFound)
}

func TestDeterministicIndex(t *testing.T) {
	t.Parallel()
	build := func() *Storage {
		s := newTestStorage(t)
		mustAddFEC(t, s, "fec01", "x86_64")
		require.NoError(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader([]byte("#!/bin/sh\n"))))
		require.NoError(t, s.LinkInit(ctx, "fec01", "10-network"))
		for i, n := range []string{"Zeta", "Alpha", "Mid"} {
			mustPublish(t, s, index.KindSoftware, n, "1.0.0", "x86_64", blob(index.FormatZstd, 100+i, int64(i)))
			require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, n, "1.0.0"))
		}
		mustPublish(t, s, index.KindSoftware, "Dev", "dev", "x86_64", blob(index.FormatZstd, 10, 9))
		require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Dev", "dev"))
		return s
	}
	s1, s2 := build(), build()
	b1, err := os.ReadFile(filepath.Join(s1.Base(), "fecs/fec01/INDEX"))
	require.NoError(t, err)
	b2, err := os.ReadFile(filepath.Join(s2.Base(), "fecs/fec01/INDEX"))
	require.NoError(t, err)
	assert.Equal(t, string(b2), string(b1), "same state in two dirs, different INDEX")
	require.NoError(t, s1.Reindex(ctx))
	b3, _ := os.ReadFile(filepath.Join(s1.Base(), "fecs/fec01/INDEX"))
	assert.Equal(t, b3, b1, "reindex changed the bytes")
	assert.Contains(t, string(b1), " version=dev dev\n")
	assert.Contains(t, string(b1), "software Alpha ")
}

// TestLinkSwitchIsAtomic: a reader that follows the link while it is
// switched back and forth always finds one of the two archives, never a
// missing link.
func TestLinkSwitchIsAtomic(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	a, b := blob(index.FormatZstd, 4000, 1), blob(index.FormatZstd, 4000, 2)
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", a)
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", b)
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	link := filepath.Join(s.Base(), "fecs/fec01/software/Foo")
	indexFile := filepath.Join(s.Base(), "fecs/fec01/INDEX")
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		reads := 0
		for {
			select {
			case <-stop:
				if reads < 10 {
					done <- fmt.Errorf("only %d reads", reads)
					return
				}
				done <- nil
				return
			default:
			}
			got, err := os.ReadFile(link)
			if err != nil {
				done <- fmt.Errorf("read %d: %w", reads, err)
				return
			}
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				done <- fmt.Errorf("read %d: neither archive (%d bytes)", reads, len(got))
				return
			}
			ib, err := os.ReadFile(indexFile)
			if err != nil {
				done <- fmt.Errorf("INDEX read %d: %w", reads, err)
				return
			}
			if _, err := index.ParseBytes(ib); err != nil {
				done <- fmt.Errorf("INDEX read %d: %w", reads, err)
				return
			}
			reads++
		}
	}()
	for i := 0; i < 60; i++ {
		v := []string{"2.0.0", "1.0.0"}[i%2]
		if err := s.Link(ctx, "fec01", index.KindSoftware, "Foo", v); err != nil {
			close(stop)
			<-done
			t.Fatal(err)
		}
	}
	close(stop)
	require.NoError(t, <-done)
}
