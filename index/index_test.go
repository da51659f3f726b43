package index

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the parser's output")

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// TestGolden parses every testdata/*.index and compares the canonical
// marshalled form with testdata/<name>.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.index")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no testdata/*.index")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			require.NoError(t, err)
			ix, err := ParseBytes(in)
			require.NoError(t, err, "parse")
			out, err := ix.Marshal()
			require.NoError(t, err, "marshal")
			golden := strings.TrimSuffix(f, ".index") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, out, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update once")
			assert.Equal(t, string(want), string(out), "marshal differs from %s", golden)
			// The canonical form is a fixed point.
			ix2, err := ParseBytes(out)
			require.NoError(t, err, "reparse")
			out2, err := ix2.Marshal()
			require.NoError(t, err)
			assert.Equal(t, string(out), string(out2), "marshal is a fixed point")
		})
	}
}

func TestParseFull(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/full.index")
	require.NoError(t, err)
	ix, err := ParseBytes(in)
	require.NoError(t, err)
	assert.Equal(t, "fec01", ix.FEC)
	assert.Equal(t, "x86_64", ix.Arch)
	assert.Equal(t, "gzip,xz,zstd", ix.Attrs["decoders"])
	require.Len(t, ix.Entries, 6)
	e, ok := ix.Lookup(KindSoftware, "Bar_DU")
	require.True(t, ok)
	assert.True(t, e.Dev)
	assert.Equal(t, "dev", e.Version)
	assert.Equal(t, FormatZstd, e.Format)
	assert.Equal(t, int64(80211), e.Size)
	e, ok = ix.Lookup(KindInit, "20-local")
	require.True(t, ok)
	assert.Zero(t, e.Size)
	assert.Empty(t, e.Format)
	assert.Equal(t, "fecs/fec01/init/20-local", e.Path)
	// Sort: kinds in protocol order, then names.
	ix.Sort()
	var order []string
	for _, e := range ix.Entries {
		order = append(order, string(e.Kind)+":"+e.Name)
	}
	want := "init:10-network init:20-local software:Bar_DU software:Foo_DU configuration:Foo_DU-instance data:fesa-data"
	assert.Equal(t, want, strings.Join(order, " "))
}

func TestUnknownAttributesSurvive(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/future.index")
	require.NoError(t, err)
	ix, err := ParseBytes(in)
	require.NoError(t, err)
	require.NotEmpty(t, ix.Entries)
	assert.Equal(t, map[string]string{"mirror": "http-cache-7", "pinned": ""}, ix.Entries[0].Attrs, "entry attrs")
	assert.Equal(t, map[string]string{"epoch": "42", "zz": "top"}, ix.Attrs, "header attrs")
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ix := &Index{FEC: "fec01", Arch: "ppc", Attrs: map[string]string{"decoders": "gzip,xz"}, Entries: []Entry{
		{Kind: KindData, Name: "d", SHA256: hashA, Size: 1, Path: "fecs/fec01/persistent-data/d.tar.gz", Format: FormatGzip},
		{Kind: KindSoftware, Name: "S", SHA256: hashB, Size: 1 << 40, Path: "software/S/dev/S-dev-ppc.tar.xz", Format: FormatXz, Version: "dev", Dev: true,
			Attrs: map[string]string{"flag": "", "k": "v=w"}},
		{Kind: KindInit, Name: "00-first", SHA256: hashA, Size: 0, Path: "fecs/global/00-first"},
	}}
	b, err := ix.Marshal()
	require.NoError(t, err)
	got, err := ParseBytes(b)
	require.NoError(t, err, "%s", b)
	want := *ix
	want.Entries = append([]Entry(nil), ix.Entries...)
	want.Sort()
	assert.Equal(t, &want, got, "round trip")
	assert.Equal(t, KindData, ix.Entries[0].Kind, "Marshal sorted the caller's slice")
	// Marshal refuses what Parse would refuse.
	bad := *ix
	bad.Entries = append([]Entry{{Kind: "firmware", Name: "x", SHA256: hashA, Path: "a"}}, ix.Entries...)
	_, err = bad.Marshal()
	assert.ErrorIs(t, err, ErrFormat, "Marshal of an unknown kind")
	dup := *ix
	dup.Entries = append(append([]Entry(nil), ix.Entries...), ix.Entries[0])
	_, err = dup.Marshal()
	assert.ErrorIs(t, err, ErrFormat, "Marshal of a duplicate")
	assert.ErrorContains(t, err, "twice")
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	const hdr = "fecdeploy-index 1 fec=fec01 arch=x86_64\n"
	entry := func(s string) string { return hdr + s + "\n" }
	good := "software Foo " + hashA + " 10 software/Foo/1/Foo-1-x86_64.tar.zst format=zstd version=1"
	_, err := ParseBytes([]byte(entry(good)))
	require.NoError(t, err, "the base case must parse")
	for _, tc := range []struct {
		what, in string
		want     error
		msg      string
	}{
		{"empty file", "", ErrFormat, "empty file"},
		{"no final newline", strings.TrimSuffix(entry(good), "\n"), ErrFormat, "newline"},
		{"only comments", "# nothing\n\n", ErrFormat, "no header"},
		{"not an index", "<html>\n", ErrFormat, "not a fecdeploy INDEX"},
		{"header without version", "fecdeploy-index\n", ErrFormat, "no format version"},
		{"version 2", "fecdeploy-index 2 fec=a arch=b\n", ErrVersion, `"2"`},
		{"version not a number", "fecdeploy-index one fec=a arch=b\n", ErrVersion, `"one"`},
		{"header attribute without =", "fecdeploy-index 1 fec=a arch=b signed\n", ErrFormat, "not key=value"},
		{"header attribute bad key", "fecdeploy-index 1 fec=a arch=b -x=1\n", ErrFormat, "attribute key"},
		{"header without fec", "fecdeploy-index 1 arch=b\n", ErrFormat, "FEC name"},
		{"header fec=global", "fecdeploy-index 1 fec=global arch=b\n", ErrFormat, "global"},
		{"header without arch", "fecdeploy-index 1 fec=a\n", ErrFormat, "architecture"},
		{"tab", entry(strings.Replace(good, " ", "\t", 1)), ErrFormat, "tab"},
		{"carriage return", strings.ReplaceAll(entry(good), "\n", "\r\n"), ErrFormat, "carriage return"},
		{"double space", entry(strings.Replace(good, " ", "  ", 1)), ErrFormat, "empty field"},
		{"leading space", entry(" " + good), ErrFormat, "empty field"},
		{"trailing space", entry(good + " "), ErrFormat, "empty field"},
		{"four fields", entry("software Foo " + hashA + " 10"), ErrFormat, "want at least 5"},
		{"size with plus", entry(strings.Replace(good, " 10 ", " +10 ", 1)), ErrFormat, "plain decimal"},
		{"size with leading zero", entry(strings.Replace(good, " 10 ", " 010 ", 1)), ErrFormat, "plain decimal"},
		{"size not a number", entry(strings.Replace(good, " 10 ", " 1e3 ", 1)), ErrFormat, "plain decimal"},
		{"size overflow", entry(strings.Replace(good, " 10 ", " 99999999999999999999 ", 1)), ErrFormat, "plain decimal"},
		{"negative size", entry(strings.Replace(good, " 10 ", " -1 ", 1)), ErrFormat, "negative"},
		{"unknown kind", entry(strings.Replace(good, "software", "firmware", 1)), ErrFormat, "unknown kind"},
		{"bad name", entry(strings.Replace(good, " Foo ", " .Foo ", 1)), ErrFormat, "must start with a letter or digit"},
		{"uppercase sha256", entry(strings.Replace(good, hashA, strings.ToUpper(hashA), 1)), ErrFormat, "64 lowercase hex"},
		{"short sha256", entry(strings.Replace(good, hashA, hashA[:63], 1)), ErrFormat, "64 lowercase hex"},
		{"absolute path", entry(strings.Replace(good, " software/Foo", " /software/Foo", 1)), ErrFormat, "absolute"},
		{"dot-dot path", entry(strings.Replace(good, " software/Foo/1/", " software/../../etc/", 1)), ErrFormat, "path"},
		{"empty path segment", entry(strings.Replace(good, "software/Foo/1/", "software//", 1)), ErrFormat, "empty"},
		{"archive without format", entry(strings.Replace(good, " format=zstd", "", 1)), ErrFormat, "no format="},
		{"unknown format", entry(strings.Replace(good, "format=zstd", "format=lz4", 1)), ErrFormat, "unknown archive format"},
		{"init with format", entry("init 10-x " + hashA + " 1 fecs/global/10-x format=gzip"), ErrFormat, "scripts are not archives"},
		{"bad version", entry(strings.Replace(good, "version=1", "version=-1", 1)), ErrFormat, "version"},
		{"bad attribute key", entry(good + " =x"), ErrFormat, "attribute key"},
		{"duplicate", entry(good) + good + "\n", ErrFormat, "listed twice"},
		{"two headers", hdr + hdr, ErrFormat, "want at least 5"},
		{"non-ASCII attribute value", entry(good + " note=caf\xc3\xa9"), ErrFormat, "line 2: byte 0xc3 at offset"},
		{"non-ASCII in a comment", "# \xff\n" + entry(good), ErrFormat, "line 1: byte 0xff"},
		{"non-ASCII header attribute", "fecdeploy-index 1 fec=a arch=b site=\x80\n", ErrFormat, "not ASCII"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			t.Parallel()
			ix, err := ParseBytes([]byte(tc.in))
			require.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, tc.msg)
			assert.Nil(t, ix, "an index returned with an error")
		})
	}
}

func TestParseLineNumbers(t *testing.T) {
	t.Parallel()
	in := "# c\nfecdeploy-index 1 fec=a arch=b\n\ninit x " + hashA + " 1  p\n"
	_, err := ParseBytes([]byte(in))
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "line 4")
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	big := "fecdeploy-index 1 fec=a arch=b\n" + strings.Repeat("# padding padding padding padding\n", MaxSize/30)
	require.Greater(t, len(big), MaxSize, "test input too small")
	_, err := Parse(strings.NewReader(big))
	assert.ErrorIs(t, err, ErrTooLarge, "Parse")
	_, err = ParseBytes([]byte(big))
	assert.ErrorIs(t, err, ErrTooLarge, "ParseBytes")
	// Exactly MaxSize is fine.
	exact := big[:MaxSize]
	exact = exact[:strings.LastIndexByte(exact, '\n')+1]
	exact += strings.Repeat("#", MaxSize-len(exact)-1) + "\n"
	require.Len(t, exact, MaxSize)
	_, err = Parse(strings.NewReader(exact))
	assert.NoError(t, err, "an INDEX of exactly MaxSize")
	// A reader that fails: its error, not a format error.
	_, err = Parse(iotestErrReader{})
	assert.ErrorIs(t, err, errConnReset)
	assert.NotErrorIs(t, err, ErrFormat)
}

type iotestErrReader struct{}

var errConnReset = errors.New("connection reset")

func (iotestErrReader) Read([]byte) (int, error) { return 0, errConnReset }

// FuzzParse: Parse never panics, and whatever it accepts marshals to a
// canonical form that parses to the same index and marshals to the same
// bytes.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.index")
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("fecdeploy-index 1 fec=a arch=b\ninit x " + hashA + " 1 p x= y\n"))
	f.Add([]byte("fecdeploy-index 1 fec=a arch=b\nsoftware s " + hashB + " 0 a/b format=gzip dev=1 version=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ParseBytes(data)
		if err != nil {
			require.Nil(t, ix, "index with error")
			return
		}
		b1, err := ix.Marshal()
		require.NoError(t, err, "accepted input does not marshal: %q", data)
		ix2, err := ParseBytes(b1)
		require.NoError(t, err, "canonical form does not parse: %q", b1)
		ix.Sort()
		require.Equal(t, normalize(ix), normalize(ix2), "parse -> marshal -> parse changed the index")
		b2, err := ix2.Marshal()
		require.NoError(t, err)
		require.Equal(t, string(b1), string(b2), "marshal is stable")
	})
}

// normalize makes empty attribute maps nil for comparison.
func normalize(ix *Index) *Index {
	c := *ix
	if len(c.Attrs) == 0 {
		c.Attrs = nil
	}
	c.Entries = append([]Entry(nil), ix.Entries...)
	for i := range c.Entries {
		if len(c.Entries[i].Attrs) == 0 {
			c.Entries[i].Attrs = nil
		}
	}
	return &c
}

func TestDefaultFormat(t *testing.T) {
	t.Parallel()
	assert.Equal(t, FormatGzip, DefaultFormat("ppc"), "PowerPC FECs run the busybox client: no zstd")
	assert.Equal(t, FormatGzip, DefaultFormat("powerpc"))
	assert.Equal(t, FormatZstd, DefaultFormat("x86_64"))
	assert.Equal(t, FormatGzip, DefaultFormat(NoArch), "noarch goes to every FEC")
	assert.Equal(t, []Format{FormatGzip, FormatXz}, DefaultDecoders("ppc"))
}

// The writer never produces what the clients refuse.
func TestMarshalRefusesNonASCII(t *testing.T) {
	t.Parallel()
	ix := &Index{FEC: "a", Arch: "b", Attrs: map[string]string{"site": "caf\xc3\xa9"}}
	_, err := ix.Marshal()
	assert.ErrorContains(t, err, "non-ASCII")
}
