package storage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPathFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec pathSpec
		want string
		err  error
	}{
		{markerPathSpec{}, ".fecdeploy-storage", nil},
		{lockPathSpec{}, ".lock", nil},
		{fecsPathSpec{}, "fecs", nil},
		{globalPathSpec{}, "fecs/global", nil},
		{globalScriptPathSpec{"10-network"}, "fecs/global/10-network", nil},
		{fecPathSpec{"fec01"}, "fecs/fec01", nil},
		{fecConfPathSpec{"fec01"}, "fecs/fec01/fec.conf", nil},
		{fecIndexPathSpec{"fec01"}, "fecs/fec01/INDEX", nil},
		{fecSigPathSpec{"fec01"}, "fecs/fec01/INDEX.sig", nil},
		{fecKindPathSpec{"fec01", index.KindInit}, "fecs/fec01/init", nil},
		{fecKindPathSpec{"fec01", index.KindData}, "fecs/fec01/persistent-data", nil},
		{fecEntryPathSpec{"fec01", index.KindSoftware, "Foo_DU"}, "fecs/fec01/software/Foo_DU", nil},
		{fecEntryPathSpec{"fec01", index.KindConfiguration, "Foo_DU-instance"}, "fecs/fec01/configuration/Foo_DU-instance", nil},
		{treePathSpec{index.KindSoftware, "Foo_DU"}, "software/Foo_DU", nil},
		{versionPathSpec{index.KindConfiguration, "Cfg", "1.0.0"}, "configuration/Cfg/1.0.0", nil},
		{archivePathSpec{index.KindSoftware, "Foo_DU", "1.2.0", "x86_64", "zstd"}, "software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst", nil},
		{archivePathSpec{index.KindSoftware, "Foo_DU", "dev", "noarch", "gzip"}, "software/Foo_DU/dev/Foo_DU-dev-noarch.tar.gz", nil},
		{archivePathSpec{index.KindConfiguration, "Cfg", "1.0.0", "", "xz"}, "configuration/Cfg/1.0.0/Cfg-1.0.0.tar.xz", nil},
		// Refused.
		{fecPathSpec{"global"}, "", index.ErrBadName},
		{fecPathSpec{".."}, "", index.ErrBadName},
		{fecPathSpec{""}, "", index.ErrBadName},
		{fecEntryPathSpec{"fec01", "firmware", "x"}, "", ErrBadRequest},
		{fecEntryPathSpec{"fec01", index.KindSoftware, "a/b"}, "", index.ErrBadName},
		{globalScriptPathSpec{".profile"}, "", index.ErrBadName},
		{treePathSpec{index.KindInit, "x"}, "", ErrBadRequest},
		{versionPathSpec{index.KindSoftware, "Foo", "1.0 beta"}, "", index.ErrBadName},
		{archivePathSpec{index.KindSoftware, "Foo", "1.0", "", "zstd"}, "", index.ErrBadName},
		{archivePathSpec{index.KindSoftware, "Foo", "1.0", "x86_64", "lz4"}, "", index.ErrUnknownFormat},
		{archivePathSpec{index.KindConfiguration, "Foo", "1.0", "x86_64", "zstd"}, "", ErrBadRequest},
	} {
		got, err := pathFor(tc.spec)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, tc.spec)
			continue
		}
		require.NoError(t, err, tc.spec)
		assert.Equal(t, tc.want, got, tc.spec)
	}
}

func TestArchiveFileNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind                index.Kind
		name, version, file string
		ok                  bool
		wantArch            string
		wantFormat          index.Format
	}{
		{index.KindSoftware, "Foo", "1.0", "Foo-1.0-x86_64.tar.zst", true, "x86_64", "zstd"},
		{index.KindSoftware, "Foo", "1.0", "Foo-1.0-noarch.tar.gz", true, "noarch", "gzip"},
		{index.KindSoftware, "Foo-1", "0", "Foo-1-0-ppc.tar.xz", true, "ppc", "xz"},
		{index.KindSoftware, "Foo", "1.0", "Foo-1.0.tar.zst", false, "", ""},
		{index.KindSoftware, "Foo", "1.0", "Foo-1.0-x86_64.tar", false, "", ""},
		{index.KindSoftware, "Foo", "1.0", "Bar-1.0-x86_64.tar.zst", false, "", ""},
		{index.KindSoftware, "Foo", "1.0", "Foo-1.0-x86_64.tar.zst.sha256", false, "", ""},
		{index.KindConfiguration, "Cfg", "1.0", "Cfg-1.0.tar.gz", true, "", "gzip"},
		{index.KindConfiguration, "Cfg", "1.0", "Cfg-1.0-x86_64.tar.gz", false, "", ""},
	} {
		an, ok := parseArchiveFileName(tc.kind, tc.name, tc.version, tc.file)
		assert.Equal(t, tc.ok, ok, tc.file)
		assert.Equal(t, tc.wantArch, an.arch, tc.file)
		assert.Equal(t, tc.wantFormat, an.format, tc.file)
		if ok {
			arch := tc.wantArch
			got, err := ArchiveFileName(tc.kind, tc.name, tc.version, arch, tc.wantFormat)
			require.NoError(t, err)
			assert.Equal(t, tc.file, got, "ArchiveFileName is the inverse")
		}
	}
}

func TestSetDecoders(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	before := snapshot(t, s.Base())
	err := s.SetDecoders(ctx, "fec01", []string{"gzip", "xz"})
	require.ErrorIs(t, err, ErrNoDecoder)
	assert.Contains(t, err.Error(), "Foo-1.0.0-x86_64.tar.zst")
	assert.Equal(t, before, snapshot(t, s.Base()), "a refused SetDecoders changed something")
	require.ErrorIs(t, s.SetDecoders(ctx, "fec01", []string{"brotli"}), ErrBadRequest)
	require.ErrorIs(t, s.SetDecoders(ctx, "fec01", nil), ErrBadRequest)
	require.ErrorIs(t, s.SetDecoders(ctx, "fec99", []string{"gzip"}), ErrUnknownFEC)

	require.NoError(t, s.SetDecoders(ctx, "fec01", []string{"zst", "gz"}))
	info, err := s.FEC(ctx, "fec01")
	require.NoError(t, err)
	assert.Equal(t, []string{"gzip", "zstd"}, info.Config.Decoders)
	// Unknown keys in fec.conf survive a rewrite.
	conf := filepath.Join(s.Base(), "fecs/fec01/fec.conf")
	b, _ := os.ReadFile(conf)
	require.NoError(t, os.WriteFile(conf, append(b, "location=BG2.009\n"...), 0o644))
	require.NoError(t, s.SetDecoders(ctx, "fec01", []string{"zstd"}))
	b, _ = os.ReadFile(conf)
	assert.Contains(t, string(b), "location=BG2.009\n")
	assert.Contains(t, string(b), "decoders=zstd\n")
}

func TestSigning(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	s.SetSigningKey(k1)
	mustAddFEC(t, s, "fec01", "x86_64")
	dir := filepath.Join(s.Base(), "fecs/fec01")
	data, _ := os.ReadFile(filepath.Join(dir, "INDEX"))
	sig, err := os.ReadFile(filepath.Join(dir, "INDEX.sig"))
	require.NoError(t, err)
	require.NoError(t, index.VerifySignature(data, sig, []ed25519.PublicKey{k1.Public().(ed25519.PublicKey)}))
	r, _ := s.Verify(ctx)
	assert.Equal(t, []Problem{}, r.Problems)

	// Rotation: the next reindex signs with the new key, INDEX unchanged.
	s.SetSigningKey(k2)
	r, _ = s.Verify(ctx)
	assert.Equal(t, 1, r.Count(ProblemBadSignature), "a signature by another key")
	require.NoError(t, s.Reindex(ctx))
	data2, _ := os.ReadFile(filepath.Join(dir, "INDEX"))
	sig2, _ := os.ReadFile(filepath.Join(dir, "INDEX.sig"))
	assert.Equal(t, data, data2)
	require.NoError(t, index.VerifySignature(data2, sig2, []ed25519.PublicKey{k2.Public().(ed25519.PublicKey)}))

	// Tampered INDEX: Verify says so.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "INDEX"), append([]byte("# x\n"), data...), 0o644))
	r, _ = s.Verify(ctx)
	assert.Equal(t, 1, r.Count(ProblemBadSignature))
	assert.Equal(t, 1, r.Count(ProblemStaleIndex))

	// No key: a change that would leave a signed INDEX unsigned (and its
	// FECs unable to boot) is refused, and nothing changes.
	require.NoError(t, s.Reindex(ctx)) // repair the tampered INDEX, signed with k2
	s.SetSigningKey(nil)
	require.NoError(t, s.Reindex(ctx)) // nothing would change: fine, the signature still matches
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 10, 1))
	before := snapshot(t, s.Base())
	err = s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0")
	require.ErrorIs(t, err, ErrSigningKey)
	assert.Contains(t, err.Error(), "fecctl unsign")
	assert.Equal(t, before, snapshot(t, s.Base()))

	// Stopping to sign is deliberate.
	removed, err := s.Unsign(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"fecs/fec01/INDEX.sig"}, removed)
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	_, err = os.Stat(filepath.Join(dir, "INDEX.sig"))
	assert.True(t, os.IsNotExist(err), "INDEX.sig came back")
	_, err = s.Unsign(ctx, "nofec")
	require.ErrorIs(t, err, ErrUnknownFEC)
}

func TestLock(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	unlock, err := s.Lock(ctx)
	require.NoError(t, err)
	// A second writer (same process, another open file: flock excludes it) waits and gives up with ctx.
	tctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.AddFEC(tctx, "fec01", FECConfig{Arch: "x86_64"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "held by pid=")
	assert.True(t, time.Since(start) >= 150*time.Millisecond, "did not wait")
	_, err = os.Stat(filepath.Join(s.Base(), "fecs/fec01"))
	assert.True(t, os.IsNotExist(err), "wrote without the lock")

	// Released: the waiter gets it.
	done := make(chan error)
	go func() { done <- s.AddFEC(ctx, "fec01", FECConfig{Arch: "x86_64"}) }()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, unlock())
	require.NoError(t, <-done)
	require.NoError(t, unlock(), "unlock twice")
}

func TestPutFileRefusals(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "ppc01", "ppc")
	before := snapshot(t, s.Base())
	require.ErrorIs(t, s.PutFile(ctx, "ppc01", index.KindConfiguration, "c", bytes.NewReader(blob(index.FormatZstd, 10, 1))), ErrNoDecoder)
	require.ErrorIs(t, s.PutFile(ctx, "ppc01", index.KindData, "d", strings.NewReader("plain text")), index.ErrUnknownFormat)
	require.ErrorIs(t, s.PutFile(ctx, "ppc01", index.KindSoftware, "s", bytes.NewReader(blob(index.FormatGzip, 10, 1))), ErrBadRequest)
	require.ErrorIs(t, s.PutFile(ctx, "fec99", index.KindInit, "10-x", strings.NewReader("#!/bin/sh\n")), ErrUnknownFEC)
	require.ErrorIs(t, s.PutFile(ctx, "ppc01", index.KindInit, "10 x", strings.NewReader("#!/bin/sh\n")), index.ErrBadName)
	assert.Equal(t, before, snapshot(t, s.Base()))
}

// The writer writes INDEX where the protocol says a FEC fetches it.
func TestIndexPathMatchesProtocol(t *testing.T) {
	t.Parallel()
	ip, err := IndexPath("scu01")
	require.NoError(t, err)
	assert.Equal(t, index.IndexURLPath("scu01"), ip)
	sp, err := SignaturePath("scu01")
	require.NoError(t, err)
	assert.Equal(t, index.SigURLPath("scu01"), sp)
}
