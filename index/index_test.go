package index

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the parser's output")

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// TestGolden parses every testdata/*.index and compares the canonical
// marshalled form with testdata/<name>.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.index")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.index: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := ParseBytes(in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out, err := ix.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			golden := strings.TrimSuffix(f, ".index") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update once)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("marshal differs from %s:\n got:\n%s\nwant:\n%s", golden, out, want)
			}
			// The canonical form is a fixed point.
			ix2, err := ParseBytes(out)
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			out2, _ := ix2.Marshal()
			if !bytes.Equal(out, out2) {
				t.Errorf("marshal is not a fixed point:\n%s\n%s", out, out2)
			}
		})
	}
}

func TestParseFull(t *testing.T) {
	in, err := os.ReadFile("testdata/full.index")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := ParseBytes(in)
	if err != nil {
		t.Fatal(err)
	}
	if ix.FEC != "fec01" || ix.Arch != "x86_64" || ix.Attrs["decoders"] != "gzip,xz,zstd" {
		t.Errorf("header: %+v", ix)
	}
	if len(ix.Entries) != 6 {
		t.Fatalf("%d entries, want 6", len(ix.Entries))
	}
	e, ok := ix.Lookup(KindSoftware, "Bar_DU")
	if !ok || !e.Dev || e.Version != "dev" || e.Format != FormatZstd || e.Size != 80211 {
		t.Errorf("Bar_DU: %+v", e)
	}
	e, _ = ix.Lookup(KindInit, "20-local")
	if e.Size != 0 || e.Format != "" || e.Path != "fecs/fec01/init/20-local" {
		t.Errorf("20-local: %+v", e)
	}
	// Sort: kinds in protocol order, then names.
	ix.Sort()
	var order []string
	for _, e := range ix.Entries {
		order = append(order, string(e.Kind)+":"+e.Name)
	}
	want := "init:10-network init:20-local software:Bar_DU software:Foo_DU configuration:Foo_DU-instance data:fesa-data"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order\n got %s\nwant %s", got, want)
	}
}

func TestUnknownAttributesSurvive(t *testing.T) {
	in, _ := os.ReadFile("testdata/future.index")
	ix, err := ParseBytes(in)
	if err != nil {
		t.Fatal(err)
	}
	e := ix.Entries[0]
	if !reflect.DeepEqual(e.Attrs, map[string]string{"mirror": "http-cache-7", "pinned": ""}) {
		t.Errorf("entry attrs %v", e.Attrs)
	}
	if !reflect.DeepEqual(ix.Attrs, map[string]string{"serial": "42", "zz": "top"}) {
		t.Errorf("header attrs %v", ix.Attrs)
	}
}

func TestRoundTrip(t *testing.T) {
	ix := &Index{FEC: "fec01", Arch: "ppc", Attrs: map[string]string{"decoders": "gzip,xz"}, Entries: []Entry{
		{Kind: KindData, Name: "d", SHA256: hashA, Size: 1, Path: "fecs/fec01/persistent-data/d.tar.gz", Format: FormatGzip},
		{Kind: KindSoftware, Name: "S", SHA256: hashB, Size: 1 << 40, Path: "software/S/dev/S-dev-ppc.tar.xz", Format: FormatXz, Version: "dev", Dev: true,
			Attrs: map[string]string{"flag": "", "k": "v=w"}},
		{Kind: KindInit, Name: "00-first", SHA256: hashA, Size: 0, Path: "fecs/global/00-first"},
	}}
	b, err := ix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseBytes(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	want := *ix
	want.Entries = append([]Entry(nil), ix.Entries...)
	want.Sort()
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
	}
	if ix.Entries[0].Kind != KindData {
		t.Error("Marshal sorted the caller's slice")
	}
	// Marshal refuses what Parse would refuse.
	bad := *ix
	bad.Entries = append([]Entry{{Kind: "firmware", Name: "x", SHA256: hashA, Path: "a"}}, ix.Entries...)
	if _, err := bad.Marshal(); !errors.Is(err, ErrFormat) {
		t.Errorf("Marshal of an unknown kind: %v", err)
	}
	dup := *ix
	dup.Entries = append(append([]Entry(nil), ix.Entries...), ix.Entries[0])
	if _, err := dup.Marshal(); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "twice") {
		t.Errorf("Marshal of a duplicate: %v", err)
	}
}

func TestParseMalformed(t *testing.T) {
	const hdr = "fecdeploy-index 1 fec=fec01 arch=x86_64\n"
	entry := func(s string) string { return hdr + s + "\n" }
	good := "software Foo " + hashA + " 10 software/Foo/1/Foo-1-x86_64.tar.zst format=zstd version=1"
	if _, err := ParseBytes([]byte(entry(good))); err != nil {
		t.Fatalf("the base case must parse: %v", err)
	}
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
	} {
		t.Run(tc.what, func(t *testing.T) {
			ix, err := ParseBytes([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (index %+v), want %v", err, ix, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not say %q", err, tc.msg)
			}
			if ix != nil {
				t.Error("an index returned with an error")
			}
		})
	}
}

func TestParseLineNumbers(t *testing.T) {
	in := "# c\nfecdeploy-index 1 fec=a arch=b\n\ninit x " + hashA + " 1  p\n"
	_, err := ParseBytes([]byte(in))
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("want an error naming line 4, got %v", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	big := "fecdeploy-index 1 fec=a arch=b\n" + strings.Repeat("# padding padding padding padding\n", MaxSize/30)
	if len(big) <= MaxSize {
		t.Fatal("test input too small")
	}
	if _, err := Parse(strings.NewReader(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse: %v, want ErrTooLarge", err)
	}
	if _, err := ParseBytes([]byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ParseBytes: %v, want ErrTooLarge", err)
	}
	// Exactly MaxSize is fine.
	exact := big[:MaxSize]
	exact = exact[:strings.LastIndexByte(exact, '\n')+1]
	exact += strings.Repeat("#", MaxSize-len(exact)-1) + "\n"
	if len(exact) != MaxSize {
		t.Fatalf("len %d", len(exact))
	}
	if _, err := Parse(strings.NewReader(exact)); err != nil {
		t.Errorf("an INDEX of exactly MaxSize: %v", err)
	}
	// A reader that fails.
	if _, err := Parse(iotestErrReader{}); err == nil || errors.Is(err, ErrFormat) {
		t.Errorf("a failing reader: %v", err)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// FuzzParse: Parse never panics, and whatever it accepts marshals to a
// canonical form that parses to the same index and marshals to the same
// bytes.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.index")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("fecdeploy-index 1 fec=a arch=b\ninit x " + hashA + " 1 p x= y\n"))
	f.Add([]byte("fecdeploy-index 1 fec=a arch=b\nsoftware s " + hashB + " 0 a/b format=gzip dev=1 version=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ParseBytes(data)
		if err != nil {
			if ix != nil {
				t.Fatal("index with error")
			}
			return
		}
		b1, err := ix.Marshal()
		if err != nil {
			t.Fatalf("accepted input does not marshal: %v\n%q", err, data)
		}
		ix2, err := ParseBytes(b1)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%q", err, b1)
		}
		ix.Sort()
		if !reflect.DeepEqual(normalize(ix), normalize(ix2)) {
			t.Fatalf("parse -> marshal -> parse changed the index:\n%+v\n%+v", ix, ix2)
		}
		b2, err := ix2.Marshal()
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("marshal is not stable: %v\n%q\n%q", err, b1, b2)
		}
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
