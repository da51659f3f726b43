package cli

import (
	"context"
	"errors"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// Exit codes shared by fec-pack, fecctl and fec-prune (fec-boot has its own,
// see docs/boot.md).
const (
	ExitOK       = 0
	ExitError    = 1 // anything else: I/O, permissions, disk full
	ExitUsage    = 2 // command line, bad name, bad version, bad request
	ExitNotFound = 3 // not a storage, unknown FEC, missing version
	ExitRefused  = 4 // immutable version, architecture or decoder mismatch, in use, signing key missing, unknown ssh host key, unsafe input archive
	ExitBusy     = 5 // the storage lock could not be taken in time; interrupted
	ExitProblems = 6 // verify found problems
)

// ErrProblems is returned by commands that completed but found problems
// (fecctl verify).
var ErrProblems = errors.New("problems found")

// ExitCode maps an error of the library to the exit code a binary returns.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUsage), errors.Is(err, index.ErrBadName), errors.Is(err, version.ErrInvalid),
		errors.Is(err, storage.ErrBadRequest), errors.Is(err, index.ErrUnknownFormat):
		return ExitUsage
	case errors.Is(err, storage.ErrNotStorage), errors.Is(err, storage.ErrUnknownFEC), errors.Is(err, storage.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, storage.ErrImmutable), errors.Is(err, storage.ErrArchMismatch), errors.Is(err, storage.ErrNoDecoder),
		errors.Is(err, storage.ErrInUse), errors.Is(err, storage.ErrExists), errors.Is(err, version.ErrCollides),
		errors.Is(err, storage.ErrSigningKey), errors.Is(err, storage.ErrNoRollback),
		errors.Is(err, storage.ErrUnsafeArchive), errors.Is(err, storage.ErrKeyring),
		errors.Is(err, publish.ErrHostKey), errors.Is(err, publish.ErrUnsafeInput):
		return ExitRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ExitBusy
	case errors.Is(err, ErrProblems):
		return ExitProblems
	}
	return ExitError
}
