package index_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/index"
)

func TestFormatTable(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []index.Format{index.FormatZstd, index.FormatXz, index.FormatGzip}, index.Formats())
	for _, tc := range []struct {
		in   string
		want index.Format
		ext  string
	}{
		{"zstd", index.FormatZstd, ".tar.zst"}, {"ZST", index.FormatZstd, ".tar.zst"},
		{"gzip", index.FormatGzip, ".tar.gz"}, {" gz ", index.FormatGzip, ".tar.gz"},
		{"xz", index.FormatXz, ".tar.xz"},
	} {
		f, err := index.ParseFormat(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, f)
		assert.Equal(t, tc.ext, f.Extension())
		stem, sf, ok := index.SplitExtension("Foo-1.0" + tc.ext)
		assert.True(t, ok)
		assert.Equal(t, "Foo-1.0", stem)
		assert.Equal(t, tc.want, sf)
		got, rest, err := index.Detect(bytes.NewReader(append(f.Magic(), "payload"...)))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
		all, _ := io.ReadAll(rest)
		assert.Equal(t, append(f.Magic(), "payload"...), all, "Detect gives back every byte")
	}
	for _, bad := range []string{"", "bz2", "tar", "zip"} {
		_, err := index.ParseFormat(bad)
		require.ErrorIs(t, err, index.ErrUnknownFormat, bad)
	}
	for _, name := range []string{".tar.zst", "x.tar", "x.zip", "x.tar.bz2"} {
		_, _, ok := index.SplitExtension(name)
		assert.False(t, ok, name)
	}
	for _, head := range [][]byte{nil, []byte("PK\x03\x04"), []byte("<html>")} {
		_, _, err := index.Detect(bytes.NewReader(head))
		require.ErrorIs(t, err, index.ErrUnknownFormat)
	}
	assert.False(t, index.Format("bz2").Valid())
	assert.Empty(t, index.Format("bz2").Extension())
	assert.Nil(t, index.Format("bz2").Magic())
}

func TestURLPaths(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "fecs/scu01/INDEX", index.IndexURLPath("scu01"))
	assert.Equal(t, "fecs/scu01/INDEX.sig", index.SigURLPath("scu01"))
}
