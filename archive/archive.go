// Package archive packs staged install trees into reproducible compressed
// tar archives and extracts such archives safely.
//
// Entry paths are the unpack location relative to "/" (for example
// opt/fesa/Foo_DU/1.2.0/bin/foo), so any tar can unpack an archive with
// "-C /". Pack produces the same bytes for the same input tree. Stage treats
// its input as hostile (it runs as root on a FEC): it accepts only regular
// files, directories and symlinks below the allowed roots, refuses hardlinks,
// devices, FIFOs, absolute names, "..", duplicates, symlinks that resolve
// outside their allowed root and entries written through symlinks, strips
// setuid/setgid/sticky bits, limits size and entry count, and writes
// everything into a staging directory next to the destination. Commit then
// moves the staged files into place with one rename per file.
package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is a compression format of a tar archive. Its values equal the
// format names of the INDEX (index.FormatZstd, ...).
type Format string

// The supported formats.
const (
	Zstd Format = "zstd"
	Gzip Format = "gzip"
	Xz   Format = "xz"
)

// Errors. Entry-specific refusals are *EntryError values wrapping
// ErrUnsafeEntry; use errors.Is / errors.As.
var (
	ErrUnknownFormat  = errors.New("archive: unknown format")
	ErrUnsafeEntry    = errors.New("archive: unsafe entry")
	ErrTooLarge       = errors.New("archive: too large")
	ErrTooManyEntries = errors.New("archive: too many entries")
	ErrCorrupt        = errors.New("archive: corrupt or truncated")
)

// EntryError says which tar entry (or, for Pack, which file) broke which
// rule. It wraps ErrUnsafeEntry.
type EntryError struct {
	Name   string // the entry name as stored in the archive (or the source path for Pack)
	Reason string // the rule it breaks
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("archive: unsafe entry %q: %s", e.Name, e.Reason)
}

// Unwrap returns ErrUnsafeEntry.
func (e *EntryError) Unwrap() error { return ErrUnsafeEntry }

func unsafeEntry(name, format string, a ...any) error {
	return &EntryError{Name: name, Reason: fmt.Sprintf(format, a...)}
}

// ParseFormat accepts zstd, zst, gzip, gz and xz (case-insensitive).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "zstd", "zst":
		return Zstd, nil
	case "gzip", "gz":
		return Gzip, nil
	case "xz":
		return Xz, nil
	}
	return "", fmt.Errorf("%w: %q (use zstd, gzip or xz)", ErrUnknownFormat, s)
}

// Extension is the file name extension of a tar archive in this format:
// ".tar.zst", ".tar.gz" or ".tar.xz"; "" for an unknown format.
func (f Format) Extension() string {
	switch f {
	case Zstd:
		return ".tar.zst"
	case Gzip:
		return ".tar.gz"
	case Xz:
		return ".tar.xz"
	}
	return ""
}

func (f Format) valid() bool { return f == Zstd || f == Gzip || f == Xz }

var magics = []struct {
	f     Format
	magic []byte
}{
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Gzip, []byte{0x1f, 0x8b}},
	{Xz, []byte{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}},
}

// Detect reads the first bytes of r and names the compression format from
// its magic bytes (not from a file name). The returned reader yields the
// whole stream, including the bytes Detect looked at. An empty or
// unrecognised stream gives ErrUnknownFormat; a read error of r is returned
// as is (wrapped).
func Detect(r io.Reader) (Format, io.Reader, error) {
	buf := make([]byte, 6)
	n, err := io.ReadFull(r, buf)
	buf = buf[:n]
	rest := io.MultiReader(bytes.NewReader(buf), r)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return "", rest, fmt.Errorf("archive: reading the format magic: %w", err)
	}
	if n == 0 {
		return "", rest, fmt.Errorf("%w: empty input", ErrUnknownFormat)
	}
	for _, m := range magics {
		if bytes.HasPrefix(buf, m.magic) {
			return m.f, rest, nil
		}
	}
	return "", rest, fmt.Errorf("%w: the stream starts with % x, which is not zstd (28 b5 2f fd), gzip (1f 8b) or xz (fd 37 7a 58 5a 00); is it a plain tar, a zip or an HTML error page?", ErrUnknownFormat, buf)
}
