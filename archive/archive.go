// Package archive is the archive format on both sides: it packs staged
// install trees into reproducible compressed tar archives and extracts such
// archives safely. The formats themselves (names, extensions, magic bytes)
// are the protocol's, in package index.
//
// Entry paths are the unpack location relative to "/" (for example
// opt/fesa/Foo_DU/1.2.0/bin/foo), so any tar can unpack an archive with
// "-C /". Pack produces the same bytes for the same input tree. Stage treats
// its input as hostile (it runs as root on a FEC): it accepts only regular
// files, directories and symlinks below the allowed roots, refuses hardlinks,
// devices, FIFOs, sparse files, absolute names, "..", newlines in names,
// duplicates, symlinks that resolve outside their allowed root and entries
// written through symlinks, refuses tar layouts busybox tar would read
// differently (PAX records other than path and linkpath, see layout.go),
// clamps modes (no group/other write, setuid, setgid, sticky), limits depth,
// size and entry count, and writes everything into a staging directory next
// to the destination, relative to open directories. Commit then
// moves each directory that does not exist yet (a new version directory)
// into place with one rename of the whole tree, and files going into
// existing directories with one rename each; CommitReplacing swaps a whole
// directory. RemoveLeftovers removes the staging directories of interrupted
// runs.
package archive

import (
	"errors"
	"fmt"
)

// Errors. Entry-specific refusals are *EntryError values wrapping
// ErrUnsafeEntry; use errors.Is / errors.As.
var (
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
