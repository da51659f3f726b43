package index

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is the compression of a tar archive, as named by the format=
// attribute of an INDEX entry. The table below is the one place that knows
// each format's name, file extension and magic bytes: the writer, the Go
// client and (by docs/index-format.md) the shell client all follow it.
type Format string

// The archive formats a FEC may be given.
const (
	FormatZstd Format = "zstd"
	FormatGzip Format = "gzip"
	FormatXz   Format = "xz"
)

// ErrUnknownFormat is returned for a format name, file name or stream that is
// none of the formats in the table.
var ErrUnknownFormat = errors.New("index: not a zstd, gzip or xz compressed tar")

type formatInfo struct {
	format    Format
	aliases   []string // accepted by ParseFormat besides the name
	extension string
	magic     []byte
}

// formats lists the formats in order of preference for a FEC that can decode
// several (smallest and fastest first).
var formats = []formatInfo{
	{FormatZstd, []string{"zst"}, ".tar.zst", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{FormatXz, nil, ".tar.xz", []byte{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}},
	{FormatGzip, []string{"gz"}, ".tar.gz", []byte{0x1f, 0x8b}},
}

// MagicLen is the number of leading bytes Detect and FormatOf need.
const MagicLen = 6

// Formats returns the known formats in order of preference (zstd, xz, gzip).
func Formats() []Format {
	out := make([]Format, len(formats))
	for i, f := range formats {
		out[i] = f.format
	}
	return out
}

func lookupFormat(f Format) (formatInfo, bool) {
	for _, fi := range formats {
		if fi.format == f {
			return fi, true
		}
	}
	return formatInfo{}, false
}

// Valid reports whether f is a known format.
func (f Format) Valid() bool { _, ok := lookupFormat(f); return ok }

// Extension is the file name extension of a tar archive in this format
// (".tar.zst", ".tar.gz", ".tar.xz"); "" for an unknown format.
func (f Format) Extension() string {
	fi, _ := lookupFormat(f)
	return fi.extension
}

// ParseFormat accepts a format name or alias (zstd, zst, gzip, gz, xz),
// case-insensitive.
func ParseFormat(s string) (Format, error) {
	want := strings.ToLower(strings.TrimSpace(s))
	for _, fi := range formats {
		if want == string(fi.format) {
			return fi.format, nil
		}
		for _, a := range fi.aliases {
			if want == a {
				return fi.format, nil
			}
		}
	}
	return "", fmt.Errorf("%w: %q (use zstd, gzip or xz)", ErrUnknownFormat, s)
}

// SplitExtension splits "x.tar.zst" into "x" and FormatZstd; ok is false when
// the name has no known extension or nothing before it.
func SplitExtension(file string) (stem string, f Format, ok bool) {
	for _, fi := range formats {
		if s, found := strings.CutSuffix(file, fi.extension); found && s != "" {
			return s, fi.format, true
		}
	}
	return "", "", false
}

// FormatOf names the format from the first bytes of a stream (at least
// MagicLen of them when the stream is that long); ok is false when none
// matches.
func FormatOf(head []byte) (Format, bool) {
	for _, fi := range formats {
		if bytes.HasPrefix(head, fi.magic) {
			return fi.format, true
		}
	}
	return "", false
}

// Detect reads the first bytes of r and names the compression format from
// its magic bytes (never from a file name). The returned reader yields the
// whole stream, including the bytes Detect looked at. An empty or
// unrecognised stream gives ErrUnknownFormat; a read error of r is returned
// wrapped.
func Detect(r io.Reader) (Format, io.Reader, error) {
	buf := make([]byte, MagicLen)
	n, err := io.ReadFull(r, buf)
	buf = buf[:n]
	rest := io.MultiReader(bytes.NewReader(buf), r)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return "", rest, fmt.Errorf("index: reading the format magic: %w", err)
	}
	if n == 0 {
		return "", rest, fmt.Errorf("%w: empty input", ErrUnknownFormat)
	}
	if f, ok := FormatOf(buf); ok {
		return f, rest, nil
	}
	return "", rest, fmt.Errorf("%w: the stream starts with % x, which is not zstd (28 b5 2f fd), gzip (1f 8b) or xz (fd 37 7a 58 5a 00); is it a plain tar, a zip or an HTML error page?", ErrUnknownFormat, buf)
}

// Magic returns the leading bytes of a stream in this format (a copy); nil
// for an unknown format.
func (f Format) Magic() []byte {
	fi, _ := lookupFormat(f)
	return bytes.Clone(fi.magic)
}

// familyDecoders is the one table of the formats a FEC family's boot client
// decompresses by default: PowerPC FECs run the busybox shell client, whose
// tar has no zstd; every other family runs the Go client (all formats).
var familyDecoders = map[string][]Format{
	"ppc":     {FormatGzip, FormatXz},
	"powerpc": {FormatGzip, FormatXz},
}

// DefaultDecoders returns the formats a FEC of arch decompresses unless its
// fec.conf says otherwise.
func DefaultDecoders(arch string) []Format {
	if d, ok := familyDecoders[arch]; ok {
		return append([]Format(nil), d...)
	}
	return []Format{FormatGzip, FormatXz, FormatZstd}
}

// DefaultFormat is the format to pack for arch when none is asked for: zstd
// where the family's default decoders have it, else gzip. An arch-independent
// archive (NoArch) may go to any FEC, so it gets gzip, which every FEC reads.
func DefaultFormat(arch string) Format {
	if arch == NoArch || arch == "" {
		return FormatGzip
	}
	for _, f := range DefaultDecoders(arch) {
		if f == FormatZstd {
			return FormatZstd
		}
	}
	return FormatGzip
}
