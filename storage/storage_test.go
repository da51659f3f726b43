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
)

var ctx = context.Background()

func TestInitOpen(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir)
	wantErr(t, err, ErrNotStorage)
	eq(t, snapshot(t, dir), map[string]string{".": "dir"}, "Open must not create anything")

	s, err := Init(dir)
	must(t, err)
	for _, p := range []string{MarkerName, LockName} {
		st, err := os.Stat(filepath.Join(dir, p))
		truth(t, err == nil && st.Mode().IsRegular(), p, " missing")
	}
	for _, p := range []string{"fecs/global", "software", "configuration"} {
		st, err := os.Stat(filepath.Join(dir, p))
		truth(t, err == nil && st.IsDir(), p, " missing")
	}
	_, err = Open(dir)
	must(t, err)
	// Init again is Open.
	s2, err := Init(dir)
	must(t, err)
	eq(t, s.Base(), s2.Base())

	// A marker of another layout version is refused.
	must(t, os.WriteFile(filepath.Join(dir, MarkerName), []byte("fecdeploy-storage 2\n"), 0o644))
	_, err = Open(dir)
	wantErr(t, err, ErrNotStorage)
	contains(t, err.Error(), "fecdeploy-storage 2")
}

func TestAddFEC(t *testing.T) {
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	conf, err := os.ReadFile(filepath.Join(s.Base(), "fecs/fec01/fec.conf"))
	must(t, err)
	contains(t, string(conf), "arch=x86_64\ndecoders=gzip,xz,zstd\n")

	info, err := s.FEC("ppc01")
	must(t, err)
	eq(t, []string{"gzip", "xz"}, info.Config.Decoders, "busybox FECs have no zstd by default")
	truth(t, !info.Persistent)
	must(t, info.IndexError)
	eq(t, len(info.Entries), 0)

	ix := readIndex(t, s, "fec01")
	eq(t, "fec01", ix.FEC)
	eq(t, "x86_64", ix.Arch)

	fecs, err := s.FECs()
	must(t, err)
	eq(t, []string{"fec01", "ppc01"}, fecs)

	before := snapshot(t, s.Base())
	err = s.AddFEC(ctx, "fec01", FECConfig{Arch: "x86_64"})
	wantErr(t, err, ErrExists)
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
		wantErr(t, err, tc.want, fmt.Sprintf("%s %+v", tc.name, tc.c))
	}
	eq(t, before, snapshot(t, s.Base()), "refused AddFEC calls changed the tree")
}

func TestPublishImmutable(t *testing.T) {
	s := newTestStorage(t)
	a := blob(index.FormatZstd, 10000, 1)
	p := mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", a)
	eq(t, Published{Path: "software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst", SHA256: sum(a), Size: 10000, Format: "zstd"}, p)
	got, err := os.ReadFile(filepath.Join(s.Base(), p.Path))
	must(t, err)
	eq(t, a, got)
	side, err := os.ReadFile(filepath.Join(s.Base(), p.Path+ChecksumSuffix))
	must(t, err)
	eq(t, sum(a)+"  Foo_DU-1.2.0-x86_64.tar.zst\n", string(side))

	// Same bytes: no-op.
	p2 := mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", a)
	truth(t, p2.Unchanged)
	eq(t, p.SHA256, p2.SHA256)

	// Different bytes: refused, nothing changes.
	before := snapshot(t, s.Base())
	b := blob(index.FormatZstd, 10000, 2)
	_, err = s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo_DU", Version: "1.2.0", Arch: "x86_64", Body: bytes.NewReader(b)})
	wantErr(t, err, ErrImmutable)
	eq(t, before, snapshot(t, s.Base()))
	eq(t, len(tempFiles(t, s.Base())), 0)

	// Forced: replaced.
	p3, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo_DU", Version: "1.2.0", Arch: "x86_64", Body: bytes.NewReader(b), Force: true})
	must(t, err)
	eq(t, sum(b), p3.SHA256)
	got, _ = os.ReadFile(filepath.Join(s.Base(), p.Path))
	eq(t, b, got)

	// Another format of the same version is another file.
	g := blob(index.FormatGzip, 500, 3)
	p4 := mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", g)
	eq(t, "software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.gz", p4.Path)

	// dev is mutable.
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "dev", "x86_64", a)
	pd := mustPublish(t, s, index.KindSoftware, "Foo_DU", "dev", "x86_64", b)
	truth(t, !pd.Unchanged)
	got, _ = os.ReadFile(filepath.Join(s.Base(), pd.Path))
	eq(t, b, got)

	// Configuration has no arch.
	c := mustPublish(t, s, index.KindConfiguration, "Foo_DU-instance", "1.2.0", "", blob(index.FormatXz, 100, 4))
	eq(t, "configuration/Foo_DU-instance/1.2.0/Foo_DU-instance-1.2.0.tar.xz", c.Path)
}

func TestPublishBadInput(t *testing.T) {
	s := newTestStorage(t)
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	before := snapshot(t, s.Base())
	good := blob(index.FormatZstd, 100, 2)
	for _, tc := range []struct {
		what string
		req  PublishRequest
		want error
	}{
		{"bad name", PublishRequest{Kind: index.KindSoftware, Name: "Foo/../x", Version: "1.0.0", Arch: "x86_64"}, index.ErrBadName},
		{"space in name", PublishRequest{Kind: index.KindSoftware, Name: "Foo Bar", Version: "1.0.0", Arch: "x86_64"}, index.ErrBadName},
		{"bad version", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "..", Arch: "x86_64"}, index.ErrBadName},
		{"empty version", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "", Arch: "x86_64"}, index.ErrBadName},
		{"no arch", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "1.1.0"}, ErrBadRequest},
		{"bad arch", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "1.1.0", Arch: "x86 64"}, index.ErrBadName},
		{"config with arch", PublishRequest{Kind: index.KindConfiguration, Name: "Foo", Version: "1.1.0", Arch: "x86_64"}, ErrBadRequest},
		{"kind init", PublishRequest{Kind: index.KindInit, Name: "Foo", Version: "1.1.0"}, ErrBadRequest},
		{"kind data", PublishRequest{Kind: index.KindData, Name: "Foo", Version: "1.1.0"}, ErrBadRequest},
		{"not compressed", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "1.1.0", Arch: "x86_64", Body: bytes.NewReader([]byte("#!/bin/sh\necho hi\n"))}, index.ErrUnknownFormat},
		{"empty body", PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "1.1.0", Arch: "x86_64", Body: bytes.NewReader(nil)}, index.ErrUnknownFormat},
	} {
		t.Run(tc.what, func(t *testing.T) {
			if tc.req.Body == nil {
				tc.req.Body = bytes.NewReader(good)
			}
			_, err := s.Publish(ctx, tc.req)
			wantErr(t, err, tc.want)
			eq(t, before, snapshot(t, s.Base()), "nothing may be written")
		})
	}
	var ne *index.NameError
	_, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo:1", Version: "1", Arch: "x86_64", Body: bytes.NewReader(good)})
	truth(t, errors.As(err, &ne), "want a *index.NameError, got ", err)
	contains(t, err.Error(), "':'")

	// A failing reader: the temp file goes, the version folder it created too.
	_, err = s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "2.0.0", Arch: "x86_64",
		Body: &failingReader{data: good, err: errors.New("network gone")}})
	truth(t, err != nil, "no error")
	contains(t, err.Error(), "network gone")
	eq(t, before, snapshot(t, s.Base()))

	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Publish(cctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: "2.0.0", Arch: "x86_64", Body: bytes.NewReader(good)})
	wantErr(t, err, context.Canceled)
	eq(t, before, snapshot(t, s.Base()))
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
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	a1 := blob(index.FormatZstd, 1000, 1)
	a2 := blob(index.FormatZstd, 2000, 2)
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.0.0", "x86_64", a1)
	mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.1.0", "x86_64", a2)

	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
	link := filepath.Join(s.Base(), "fecs/fec01/software/Foo_DU")
	raw, err := os.Readlink(link)
	must(t, err)
	eq(t, "../../../software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst", raw)
	got, err := os.ReadFile(link)
	must(t, err)
	eq(t, a1, got)

	ix := readIndex(t, s, "fec01")
	if len(ix.Entries) != 1 {
		t.Fatalf("%d entries, want 1: %+v", len(ix.Entries), ix.Entries)
	}
	eq(t, index.Entry{Kind: index.KindSoftware, Name: "Foo_DU", SHA256: sum(a1), Size: 1000,
		Path: "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst", Format: "zstd", Version: "1.0.0"}, ix.Entries[0])

	// Switch.
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.1.0"))
	raw, _ = os.Readlink(link)
	eq(t, "../../../software/Foo_DU/1.1.0/Foo_DU-1.1.0-x86_64.tar.zst", raw)
	ix = readIndex(t, s, "fec01")
	eq(t, "1.1.0", ix.Entries[0].Version)
	eq(t, sum(a2), ix.Entries[0].SHA256)
	eq(t, len(tempFiles(t, s.Base())), 0)
}

func TestLinkRefusals(t *testing.T) {
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.1.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.1.0", "ppc", blob(index.FormatZstd, 100, 3))
	mustPublish(t, s, index.KindSoftware, "Tool", "1.0.0", "noarch", blob(index.FormatGzip, 100, 4))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
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
			wantErr(t, err, tc.want)
			for _, m := range tc.msg {
				contains(t, err.Error(), m)
			}
			eq(t, before, snapshot(t, s.Base()), "nothing may change")
		})
	}
	// noarch goes anywhere.
	must(t, s.Link(ctx, "ppc01", index.KindSoftware, "Tool", "1.0.0"))
	// A file in the way is not replaced by a link.
	must(t, s.PutFile(ctx, "fec01", index.KindConfiguration, "Foo", bytes.NewReader(blob(index.FormatGzip, 50, 5))))
	mustPublish(t, s, index.KindConfiguration, "Foo", "1.0.0", "", blob(index.FormatGzip, 60, 6))
	before = snapshot(t, s.Base())
	err := s.Link(ctx, "fec01", index.KindConfiguration, "Foo", "1.0.0")
	wantErr(t, err, ErrExists)
	eq(t, before, snapshot(t, s.Base()))
}

func TestLinkPrefersFormat(t *testing.T) {
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatGzip, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "noarch", blob(index.FormatZstd, 100, 3))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "ppc", blob(index.FormatGzip, 100, 4))
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "ppc", blob(index.FormatZstd, 100, 5))
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	must(t, s.Link(ctx, "ppc01", index.KindSoftware, "Foo", "1.0.0"))
	e, _ := readIndex(t, s, "fec01").Lookup(index.KindSoftware, "Foo")
	eq(t, "software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", e.Path)
	e, _ = readIndex(t, s, "ppc01").Lookup(index.KindSoftware, "Foo")
	eq(t, "software/Foo/1.0.0/Foo-1.0.0-ppc.tar.gz", e.Path)
}

func TestInitScriptsAndFiles(t *testing.T) {
	s := newTestStorage(t)
	must(t, s.AddFEC(ctx, "fec01", FECConfig{Arch: "x86_64", Persistent: true}))
	must(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader([]byte("#!/bin/sh\necho net\n"))))
	must(t, s.LinkInit(ctx, "fec01", "10-network"))
	must(t, s.PutFile(ctx, "fec01", index.KindInit, "20-local", bytes.NewReader([]byte("#!/bin/sh\necho local\n"))))
	must(t, s.PutFile(ctx, "fec01", index.KindData, "fesa-data", bytes.NewReader(blob(index.FormatGzip, 300, 1))))
	raw, err := os.Readlink(filepath.Join(s.Base(), "fecs/fec01/init/10-network"))
	must(t, err)
	eq(t, "../../global/10-network", raw)
	st, err := os.Stat(filepath.Join(s.Base(), "fecs/fec01/init/20-local"))
	must(t, err)
	eq(t, os.FileMode(0o755), st.Mode().Perm())

	ix := readIndex(t, s, "fec01")
	if len(ix.Entries) != 3 {
		t.Fatalf("%d entries, want 3: %+v", len(ix.Entries), ix.Entries)
	}
	eq(t, "fecs/global/10-network", ix.Entries[0].Path)
	eq(t, sum([]byte("#!/bin/sh\necho net\n")), ix.Entries[0].SHA256)
	eq(t, "fecs/fec01/init/20-local", ix.Entries[1].Path)
	eq(t, index.Entry{Kind: index.KindData, Name: "fesa-data", SHA256: sum(blob(index.FormatGzip, 300, 1)), Size: 300,
		Path: "fecs/fec01/persistent-data/fesa-data.tar.gz", Format: "gzip"}, ix.Entries[2])

	// Changing a global script reindexes the FECs that link it.
	must(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader([]byte("#!/bin/sh\necho net2\n"))))
	ix = readIndex(t, s, "fec01")
	eq(t, sum([]byte("#!/bin/sh\necho net2\n")), ix.Entries[0].SHA256)

	err = s.LinkInit(ctx, "fec01", "99-missing")
	wantErr(t, err, ErrNotFound)

	must(t, s.Unlink(ctx, "fec01", index.KindInit, "10-network"))
	must(t, s.Unlink(ctx, "fec01", index.KindData, "fesa-data"))
	ix = readIndex(t, s, "fec01")
	if len(ix.Entries) != 1 {
		t.Fatalf("%d entries, want 1: %+v", len(ix.Entries), ix.Entries)
	}
	eq(t, "20-local", ix.Entries[0].Name)
	wantErr(t, s.Unlink(ctx, "fec01", index.KindSoftware, "Nope"), ErrNotFound)
}

func TestDeterministicIndex(t *testing.T) {
	build := func() *Storage {
		s := newTestStorage(t)
		mustAddFEC(t, s, "fec01", "x86_64")
		must(t, s.AddGlobalScript(ctx, "10-network", bytes.NewReader([]byte("#!/bin/sh\n"))))
		must(t, s.LinkInit(ctx, "fec01", "10-network"))
		for i, n := range []string{"Zeta", "Alpha", "Mid"} {
			mustPublish(t, s, index.KindSoftware, n, "1.0.0", "x86_64", blob(index.FormatZstd, 100+i, int64(i)))
			must(t, s.Link(ctx, "fec01", index.KindSoftware, n, "1.0.0"))
		}
		mustPublish(t, s, index.KindSoftware, "Dev", "dev", "x86_64", blob(index.FormatZstd, 10, 9))
		must(t, s.Link(ctx, "fec01", index.KindSoftware, "Dev", "dev"))
		return s
	}
	s1, s2 := build(), build()
	b1, err := os.ReadFile(filepath.Join(s1.Base(), "fecs/fec01/INDEX"))
	must(t, err)
	b2, err := os.ReadFile(filepath.Join(s2.Base(), "fecs/fec01/INDEX"))
	must(t, err)
	eq(t, string(b1), string(b2), "same state in two dirs, different INDEX")
	must(t, s1.Reindex(ctx))
	b3, _ := os.ReadFile(filepath.Join(s1.Base(), "fecs/fec01/INDEX"))
	eq(t, b1, b3, "reindex changed the bytes")
	contains(t, string(b1), " version=dev dev\n")
	contains(t, string(b1), "software Alpha ")
}

// TestLinkSwitchIsAtomic: a reader that follows the link while it is
// switched back and forth always finds one of the two archives, never a
// missing link.
func TestLinkSwitchIsAtomic(t *testing.T) {
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	a, b := blob(index.FormatZstd, 4000, 1), blob(index.FormatZstd, 4000, 2)
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", a)
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", b)
	must(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
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
	must(t, <-done)
}
