package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	uxz "github.com/ulikunitz/xz"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
)

var update = flag.Bool("update", false, "regenerate the crafted archives in testdata/")

// ent is one raw tar entry of a crafted archive.
type ent struct {
	name, link string
	typ        byte
	mode       int64
	body       string
	size       int64 // for zero-filled bodies (bombs); body is ignored then
}

func reg(name, body string) ent { return ent{name: name, typ: tar.TypeReg, mode: 0o644, body: body} }
func dir(name string) ent       { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func sym(name, link string) ent {
	return ent{name: name, typ: tar.TypeSymlink, mode: 0o777, link: link}
}
func hard(name, link string) ent { return ent{name: name, typ: tar.TypeLink, mode: 0o644, link: link} }

var epoch = time.Unix(0, 0)

// rawTar writes entries without any checks; end=false leaves out the
// end-of-archive marker.
func rawTar(t testing.TB, end bool, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX}
		if e.typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Name: e.name, Typeflag: e.typ, PAXRecords: map[string]string{"comment": "global"}}
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.size > 0 {
			h.Size = e.size
		}
		if e.typ == tar.TypeChar || e.typ == tar.TypeBlock {
			h.Devmajor, h.Devminor = 1, 3
		}
		require.NoError(t, tw.WriteHeader(h))
		if e.size > 0 {
			_, err := io.CopyN(tw, zeroReader{}, e.size)
			require.NoError(t, err)
		} else if e.typ == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	if end {
		require.NoError(t, tw.Close())
	} else {
		require.NoError(t, tw.Flush())
	}
	return buf.Bytes()
}

// setTypeflag changes the type of a ustar header block and fixes its checksum.
func setTypeflag(blk []byte, typ byte) {
	blk[156] = typ
	setChecksum(blk)
}

func setChecksum(blk []byte) {
	copy(blk[148:156], "        ")
	sum := 0
	for _, c := range blk[:512] {
		sum += int(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// block is a hand-made ustar header (Go's tar.Writer refuses to write the
// hostile ones); link is the link target field.
func block(name string, typ byte, size int64, link string) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typ
	copy(b[157:257], link)
	copy(b[257:265], "ustar\x0000")
	setChecksum(b)
	return b
}

// padded is data padded with zeros to whole 512-byte blocks.
func padded(data string) []byte {
	return append([]byte(data), make([]byte, (512-len(data)%512)%512)...)
}

// paxRecord is one PAX record "LEN key=value\n" as Go's writer formats it.
func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3
	n += len(fmt.Sprint(n))
	r := fmt.Sprintf("%d %s=%s\n", n, k, v)
	if len(r) != n {
		r = fmt.Sprintf("%d %s=%s\n", len(r), k, v)
	}
	return r
}

// paxHeader is a PAX extended header ('x') with the records.
func paxHeader(name string, records ...string) []byte {
	d := strings.Join(records, "")
	return append(block(name, 'x', int64(len(d)), ""), padded(d)...)
}

// blocks concatenates tar blocks and adds the end-of-archive marker.
func tarBlocks(parts ...[]byte) []byte {
	return append(bytes.Join(parts, nil), make([]byte, 1024)...)
}

// deepName is a file name of n path components below opt.
func deepName(n int) string {
	return "opt/" + strings.Repeat("d/", n-2) + "f"
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	return enc.EncodeAll(b, nil)
}

func xzc(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := uxz.NewWriter(&buf)
	require.NoError(t, err)
	_, err = w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// zstdBomb is 1 GiB of zeros in one file: about 40 KiB compressed.
func zstdBomb(t testing.TB) []byte {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "opt/bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 30, ModTime: epoch})
		if err == nil {
			_, err = io.CopyN(tw, zeroReader{}, 1<<30)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	_, err = io.Copy(enc, pr)
	require.NoError(t, err)
	require.NoError(t, enc.Close())
	return buf.Bytes()
}

// manyFilesBomb is 64 files of 4 MiB zeros each, each below any sane
// per-file limit; only the running total trips MaxBytes.
func manyFilesBomb(t testing.TB) []byte {
	var ents []ent
	for i := 0; i < 64; i++ {
		ents = append(ents, ent{name: "opt/z/" + strings.Repeat("z", i+1), typ: tar.TypeReg, mode: 0o644, size: 4 << 20})
	}
	return zst(t, rawTar(t, true, ents...))
}

func zipFile(t testing.TB) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "opt/x", Method: zip.Deflate, Modified: epoch.UTC()})
	require.NoError(t, err)
	_, err = w.Write([]byte("zip content"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func validArchive(t testing.TB) []byte {
	return rawTar(t, true, dir("opt/"), dir("opt/fesa/"), reg("opt/fesa/a", strings.Repeat("hello world ", 2000)),
		reg("opt/fesa/b", strings.Repeat("another file ", 3000)), sym("opt/fesa/c", "a"))
}

// crafted is the table of hostile and broken archives in testdata/. Each is
// generated by build (go test ./archive -run TestCrafted -update) and the
// generated bytes are committed, so fuzzing and other clients (fec-boot.sh)
// can use the same files.
var crafted = []struct {
	file  string
	build func(t testing.TB) []byte
	opts  UnpackOptions
	want  error  // nil: must be accepted
	entry string // for ErrUnsafeEntry: the *EntryError's Name
}{
	{"dotdot.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg("opt/../etc/passwd", "x"))) }, UnpackOptions{}, ErrUnsafeEntry, "opt/../etc/passwd"},
	{"dotdot-leading.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg("../../evil", "x"))) }, UnpackOptions{}, ErrUnsafeEntry, "../../evil"},
	{"dotdot-trailing.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, dir("opt/a/.."))) }, UnpackOptions{}, ErrUnsafeEntry, "opt/a/.."},
	{"absolute.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg("/opt/x", "x"))) }, UnpackOptions{}, ErrUnsafeEntry, "/opt/x"},
	{"outside-root.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg("etc/passwd", "root::0:0::/:/bin/sh\n"))) }, UnpackOptions{}, ErrUnsafeEntry, "etc/passwd"},
	{"file-as-allowed-root.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg("opt", "x"))) }, UnpackOptions{}, ErrUnsafeEntry, "opt"},
	{"symlink-absolute.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, sym("opt/etc", "/etc"))) }, UnpackOptions{}, ErrUnsafeEntry, "opt/etc"},
	{"symlink-relative-escape.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, dir("opt/a/"), sym("opt/a/etc", "../../etc")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/a/etc"},
	{"symlink-chain-escape.tar.gz", func(t testing.TB) []byte {
		// x/.. is the parent of opt, although it looks like opt.
		return gz(t, rawTar(t, true, sym("opt/x", "."), sym("opt/l", "x/..")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/l"},
	{"symlink-chain-escape-reversed.tar.gz", func(t testing.TB) []byte {
		// Same, the link it goes through comes later in the archive.
		return gz(t, rawTar(t, true, dir("opt/d/"), dir("opt/d/e/"), sym("opt/d/e/l", "x/../../.."), sym("opt/d/e/x", "../../y")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/d/e/l"},
	{"symlink-loop.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, sym("opt/a", "b"), sym("opt/b", "a/x")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/a"},
	{"symlink-write-through.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, sym("opt/x", "."), reg("opt/x/y", "through the link")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/x/y"},
	{"symlink-write-through-outside.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, sym("opt/x", "../etc"), reg("opt/x/passwd", "root::0:0::/:/bin/sh\n")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/x/passwd"},
	{"hardlink-outside.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, hard("opt/shadow", "etc/shadow"))) }, UnpackOptions{}, ErrUnsafeEntry, "opt/shadow"},
	{"hardlink-later.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, hard("opt/h", "opt/later"), reg("opt/later", "x")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/h"},
	{"duplicate.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg("opt/a", "1"), reg("opt/a", "2"))) }, UnpackOptions{}, ErrUnsafeEntry, "opt/a"},
	{"duplicate-dot.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, reg("opt/a/b", "1"), reg("opt/a/./b", "2")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/a/./b"},
	{"duplicate-dir-then-file.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, reg("opt/a/b", "1"), reg("opt/a", "2")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/a"},
	{"chardev.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, ent{name: "opt/null", typ: tar.TypeChar, mode: 0o666}))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/null"},
	{"blockdev.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, ent{name: "opt/sda", typ: tar.TypeBlock, mode: 0o660}))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/sda"},
	{"fifo.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, ent{name: "opt/fifo", typ: tar.TypeFifo, mode: 0o644}))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/fifo"},
	{"pax-global.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, ent{name: "pax_global_header", typ: tar.TypeXGlobalHeader}, reg("opt/a", "x")))
	}, UnpackOptions{}, ErrUnsafeEntry, "pax_global_header"},
	{"size-limit.tar.zst", func(t testing.TB) []byte {
		return zst(t, rawTar(t, true, reg("opt/a", strings.Repeat("a", 600<<10)), reg("opt/b", strings.Repeat("b", 600<<10))))
	}, UnpackOptions{MaxBytes: 1 << 20}, ErrTooLarge, ""},
	{"entry-limit.tar.zst", func(t testing.TB) []byte {
		var ents []ent
		for i := 0; i < 100; i++ {
			ents = append(ents, reg("opt/f"+strings.Repeat("x", i), ""))
		}
		return zst(t, rawTar(t, true, ents...))
	}, UnpackOptions{MaxEntries: 50}, ErrTooManyEntries, ""},
	// The limit is low so that the test writes little before it trips; the
	// archives (1 GiB, 64 x 4 MiB) are far above any limit.
	{"bomb-1gib.tar.zst", zstdBomb, UnpackOptions{MaxBytes: 16 << 20}, ErrTooLarge, ""},
	{"bomb-many-files.tar.zst", manyFilesBomb, UnpackOptions{MaxBytes: 16 << 20}, ErrTooLarge, ""},
	{"bomb-pax-headers.tar.zst", func(t testing.TB) []byte {
		// PAX records other than path and linkpath are refused at the first
		// one, before the rest is decompressed.
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := 0; i < 100; i++ {
			require.NoError(t, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("opt/p%d", i), Typeflag: tar.TypeReg, Mode: 0o644, ModTime: epoch,
				PAXRecords: map[string]string{"comment": strings.Repeat("0", 900<<10)}}))
		}
		require.NoError(t, tw.Close())
		return zst(t, buf.Bytes())
	}, UnpackOptions{MaxBytes: 1 << 20, MaxEntries: 100}, ErrUnsafeEntry, "opt/PaxHeaders.0/p0"},
	{"dir-with-data.tar.gz", func(t testing.TB) []byte {
		// Go's tar.Writer refuses to write this: patch the type of a file.
		b := rawTar(t, true, ent{name: "opt/d", typ: tar.TypeReg, mode: 0o755, size: 1 << 20})
		setTypeflag(b[:512], tar.TypeDir)
		return gz(t, b)
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/d"},
	{"truncated-half.tar.zst", func(t testing.TB) []byte { b := zst(t, validArchive(t)); return b[:len(b)/2] }, UnpackOptions{}, ErrCorrupt, ""},
	{"truncated-half.tar.gz", func(t testing.TB) []byte { b := gz(t, validArchive(t)); return b[:len(b)/2] }, UnpackOptions{}, ErrCorrupt, ""},
	{"truncated-half.tar.xz", func(t testing.TB) []byte { b := xzc(t, validArchive(t)); return b[:len(b)/2] }, UnpackOptions{}, ErrCorrupt, ""},
	{"truncated-at-header.tar.zst", func(t testing.TB) []byte {
		// A well-formed zstd stream of a tar cut at a header boundary: only
		// the missing end-of-archive marker tells.
		return zst(t, rawTar(t, false, reg("opt/a", "x"), reg("opt/b", "y")))
	}, UnpackOptions{}, ErrCorrupt, ""},
	{"garbage-after-tar.tar.gz", func(t testing.TB) []byte {
		return gz(t, append(rawTar(t, true, reg("opt/a", "x")), []byte("not padding")...))
	}, UnpackOptions{}, ErrCorrupt, ""},
	{"garbage-after-stream.tar.gz", func(t testing.TB) []byte {
		return append(gz(t, rawTar(t, true, reg("opt/a", "x"))), []byte("trailing junk")...)
	}, UnpackOptions{}, ErrCorrupt, ""},
	{"garbled.tar.gz", func(t testing.TB) []byte {
		b := gz(t, validArchive(t))
		for i := 20; i < 60; i++ {
			b[i] ^= 0x55
		}
		return b
	}, UnpackOptions{}, ErrCorrupt, ""},
	{"plain.tar", func(t testing.TB) []byte { return rawTar(t, true, reg("opt/a", "x")) }, UnpackOptions{}, index.ErrUnknownFormat, ""},
	{"archive.zip", zipFile, UnpackOptions{}, index.ErrUnknownFormat, ""},
	{"text.txt", func(t testing.TB) []byte { return []byte("<html>404 Not Found</html>\n") }, UnpackOptions{}, index.ErrUnknownFormat, ""},
	{"empty", func(t testing.TB) []byte { return nil }, UnpackOptions{}, index.ErrUnknownFormat, ""},
	// The layout rules (layout.go): what busybox tar and Go's reader would
	// read differently.
	{"pax-size.tar.gz", func(t testing.TB) []byte {
		// Go reads 1024 bytes of content for opt/a; busybox ignores the
		// PAX size, takes the ustar size 0 and finds opt/extra in them.
		return gz(t, tarBlocks(paxHeader("opt/PaxHeaders/a", paxRecord("size", "1024")), block("opt/a", '0', 0, ""),
			block("opt/extra", '0', 5, ""), padded("hello")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/PaxHeaders/a"},
	{"pax-sparse.tar.gz", func(t testing.TB) []byte {
		// PAX sparse format 1.0: busybox would install the map as content.
		return gz(t, tarBlocks(paxHeader("opt/PaxHeaders/sparse", paxRecord("GNU.sparse.major", "1"), paxRecord("GNU.sparse.minor", "0"),
			paxRecord("GNU.sparse.name", "opt/sparse"), paxRecord("GNU.sparse.realsize", "10")),
			block("opt/GNUSparseFile.0/sparse", '0', 1024, ""), padded("1\n5\n5\n"), padded("hello")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/PaxHeaders/sparse"},
	{"pax-mtime.tar.gz", func(t testing.TB) []byte {
		return gz(t, tarBlocks(paxHeader("opt/PaxHeaders/a", paxRecord("mtime", "1700000000.5")), block("opt/a", '0', 1, ""), padded("x")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/PaxHeaders/a"},
	{"pax-empty-path.tar.gz", func(t testing.TB) []byte {
		return gz(t, tarBlocks(paxHeader("opt/PaxHeaders/a", paxRecord("path", "")), block("opt/a", '0', 1, ""), padded("x")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/PaxHeaders/a"},
	{"pax-two-headers.tar.gz", func(t testing.TB) []byte {
		// Go's reader keeps only the second header, busybox both.
		return gz(t, tarBlocks(paxHeader("opt/PaxHeaders/1", paxRecord("linkpath", "a")), paxHeader("opt/PaxHeaders/2", paxRecord("path", "opt/l")),
			block("opt/l", '2', 0, "b"), block("opt/a", '0', 1, ""), padded("x"), block("opt/b", '0', 1, ""), padded("y")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/PaxHeaders/2"},
	{"gnu-longname-and-pax.tar.gz", func(t testing.TB) []byte {
		long := "opt/" + strings.Repeat("n", 120)
		return gz(t, tarBlocks(block("././@LongLink", 'L', int64(len(long)+1), ""), padded(long+"\x00"),
			paxHeader("opt/PaxHeaders/x", paxRecord("path", "opt/other")), block("opt/x", '0', 1, ""), padded("x")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/" + strings.Repeat("n", 120)},
	{"empty-name-header.tar.gz", func(t testing.TB) []byte {
		// busybox takes the nameless header for an end marker and reads
		// opt/hidden from its data.
		return gz(t, tarBlocks(block("", '0', 1024, ""), block("opt/hidden", '0', 5, ""), padded("hello")))
	}, UnpackOptions{}, ErrUnsafeEntry, ""},
	{"zero-block-inside.tar.gz", func(t testing.TB) []byte {
		return gz(t, tarBlocks(block("opt/a", '0', 1, ""), padded("a"), make([]byte, 512), block("opt/b", '0', 1, ""), padded("b")))
	}, UnpackOptions{}, ErrUnsafeEntry, ""},
	{"file-with-linkname.tar.gz", func(t testing.TB) []byte {
		// busybox tar makes a hardlink of a regular file with a link target.
		return gz(t, tarBlocks(block("opt/a", '0', 1, ""), padded("a"), block("opt/b", '0', 0, "opt/a")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/b"},
	{"newline-name.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, reg("opt/a\nb", "x")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/a\nb"},
	{"newline-link.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, reg("opt/a", "x"), sym("opt/l", "a\nb")))
	}, UnpackOptions{}, ErrUnsafeEntry, "opt/l"},
	{"deep-257.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg(deepName(257), "deep"))) }, UnpackOptions{}, ErrUnsafeEntry, deepName(257)},
	{"gzip-declared-zstd.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg("opt/a", "x"))) }, UnpackOptions{Format: index.FormatZstd}, index.ErrUnknownFormat, ""},

	// Accepted archives.
	{"valid.tar.zst", func(t testing.TB) []byte { return zst(t, validArchive(t)) }, UnpackOptions{}, nil, ""},
	{"valid.tar.gz", func(t testing.TB) []byte { return gz(t, validArchive(t)) }, UnpackOptions{}, nil, ""},
	{"valid.tar.xz", func(t testing.TB) []byte { return xzc(t, validArchive(t)) }, UnpackOptions{}, nil, ""},
	{"setuid.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, ent{name: "opt/suid", typ: tar.TypeReg, mode: 0o6755, body: "x"}, ent{name: "opt/tmp/", typ: tar.TypeDir, mode: 0o1777}))
	}, UnpackOptions{}, nil, ""},
	{"ancestors-and-dot.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, dir("./"), dir("opt/"), dir("opt/fesa/"), reg("./opt/fesa/x", "x")))
	}, UnpackOptions{AllowedRoots: []string{"opt/fesa"}}, nil, ""},
	{"symlink-forward.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, sym("opt/Foo/current", "1.2.0"), sym("opt/Foo/lib", "current/lib"), reg("opt/Foo/1.2.0/lib/libfoo.so", "x")))
	}, UnpackOptions{}, nil, ""},
	{"dir-after-contents.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, reg("opt/a/b/c", "x"), ent{name: "opt/a/", typ: tar.TypeDir, mode: 0o750}))
	}, UnpackOptions{}, nil, ""},
	{"deep-256.tar.gz", func(t testing.TB) []byte { return gz(t, rawTar(t, true, reg(deepName(256), "deep"))) }, UnpackOptions{}, nil, ""},
	{"world-writable.tar.gz", func(t testing.TB) []byte {
		return gz(t, rawTar(t, true, ent{name: "opt/ww/", typ: tar.TypeDir, mode: 0o777}, ent{name: "opt/ww/f", typ: tar.TypeReg, mode: 0o666, body: "f"},
			ent{name: "opt/ww/x", typ: tar.TypeReg, mode: 0o777, body: "x"}, ent{name: "opt/ww/sticky/", typ: tar.TypeDir, mode: 0o1777},
			ent{name: "opt/ww/setgid/", typ: tar.TypeDir, mode: 0o2775}, ent{name: "opt/ww/g", typ: tar.TypeReg, mode: 0o2775, body: "g"}))
	}, UnpackOptions{}, nil, ""},
	{"gnu-longname.tar.gz", func(t testing.TB) []byte {
		// GNU long names and links, as busybox tar -c writes them (fec-persist).
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		long := "opt/" + strings.Repeat("g", 110) + "/" + strings.Repeat("f", 120)
		for _, h := range []*tar.Header{{Name: long, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
			{Name: "opt/link", Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: long[4:]}} {
			h.ModTime, h.Format = epoch, tar.FormatGNU
			require.NoError(t, tw.WriteHeader(h))
			if h.Size > 0 {
				_, err := tw.Write([]byte("x"))
				require.NoError(t, err)
			}
		}
		require.NoError(t, tw.Close())
		return gz(t, buf.Bytes())
	}, UnpackOptions{}, nil, ""},
	{"trailing-padding.tar.gz", func(t testing.TB) []byte {
		// GNU tar pads to 10 KiB records.
		return gz(t, append(validArchive(t), make([]byte, 9216)...))
	}, UnpackOptions{}, nil, ""},
	{"long-names.tar.gz", func(t testing.TB) []byte {
		long := "opt/" + strings.Repeat("d", 120) + "/" + strings.Repeat("f", 150)
		return gz(t, rawTar(t, true, reg(long, "x"), sym("opt/"+strings.Repeat("l", 110), strings.Repeat("d", 120))))
	}, UnpackOptions{}, nil, ""},
}

// existingTree is what the destination holds before each crafted archive:
// the test asserts it is byte-for-byte unchanged after a refusal.
var existingTree = map[string]string{
	"etc/passwd":           "root:x:0:0::/root:/bin/sh\n",
	"opt/keep/file":        "kept",
	"opt/keep/link":        "-> file",
	"opt/fesa/old/version": "1.1.0",
}

func TestCrafted(t *testing.T) {
	t.Parallel()
	if *update {
		for _, c := range crafted {
			require.NoError(t, os.WriteFile(filepath.Join("testdata", c.file), c.build(t), 0o644))
		}
	}
	for _, c := range crafted {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata", c.file))
			require.NoError(t, err)
			for _, populated := range []bool{true, false} {
				root := t.TempDir()
				if populated {
					testkit.WriteTree(t, root, existingTree)
				}
				before := testkit.Snapshot(t, root)
				res, err := Unpack(context.Background(), bytes.NewReader(data), root, c.opts)
				if c.want == nil {
					require.NoError(t, err, "refused a good archive")
					require.NotZero(t, res.Files+res.Symlinks+res.Dirs, "result %+v: nothing extracted", res)
					checkNoStaging(t, root)
					continue
				}
				t.Logf("populated=%v: %v", populated, err)
				require.ErrorIs(t, err, c.want)
				if c.want == ErrUnsafeEntry {
					var ee *EntryError
					require.ErrorAs(t, err, &ee)
					assert.Equal(t, c.entry, ee.Name, "EntryError.Name (%v)", err)
				}
				assert.Equal(t, before, testkit.Snapshot(t, root))
			}
		})
	}
}

func checkNoStaging(t testing.TB, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			assert.False(t, strings.HasPrefix(d.Name(), StagingPrefix), "staging directory left behind: %s", p)
		}
		return nil
	})
}

// TestCraftedAccepted checks what the accepted crafted archives produce.
func TestCraftedAccepted(t *testing.T) {
	t.Parallel()
	unpack := func(t *testing.T, file string, opts UnpackOptions) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", file))
		require.NoError(t, err)
		root := t.TempDir()
		_, err = Unpack(context.Background(), bytes.NewReader(data), root, opts)
		require.NoError(t, err)
		return root
	}
	t.Run("setuid stripped", func(t *testing.T) {
		s := testkit.Snapshot(t, unpack(t, "setuid.tar.gz", UnpackOptions{}))
		assert.True(t, strings.HasPrefix(s["opt/suid"], "file 755 "), "opt/suid: %s, want mode 755 without setuid/setgid", s["opt/suid"])
		assert.Equal(t, "dir 755", s["opt/tmp"], "sticky bit and other write stripped")
	})
	t.Run("explicit dir mode after contents", func(t *testing.T) {
		s := testkit.Snapshot(t, unpack(t, "dir-after-contents.tar.gz", UnpackOptions{}))
		assert.Equal(t, "dir 750", s["opt/a"])
		assert.Equal(t, "dir 755", s["opt/a/b"])
	})
	t.Run("forward symlinks", func(t *testing.T) {
		root := unpack(t, "symlink-forward.tar.gz", UnpackOptions{})
		b, err := os.ReadFile(filepath.Join(root, "opt/Foo/lib/libfoo.so"))
		require.NoError(t, err)
		assert.Equal(t, "x", string(b))
	})
	t.Run("nested allowed root", func(t *testing.T) {
		s := testkit.Snapshot(t, unpack(t, "ancestors-and-dot.tar.gz", UnpackOptions{AllowedRoots: []string{"opt/fesa"}}))
		assert.Equal(t, map[string]string{".": s["."], "opt": "dir 755", "opt/fesa": "dir 755", "opt/fesa/x": s["opt/fesa/x"]}, s)
	})
}
