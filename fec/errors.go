package fec

import (
	"errors"
	"fmt"
)

// Error classes. Every error Boot and Install return wraps one of them (test
// with errors.Is); ExitCode maps them to the process exit code.
var (
	// ErrConfig: the configuration is missing or invalid (no base URL, a bad
	// FEC name, an unreadable key file, an unknown kind...).
	ErrConfig = errors.New("fec: configuration error")
	// ErrUnreachable: the storage did not answer with the INDEX within the
	// retries and the deadline, or answered 404/403 for it.
	ErrUnreachable = errors.New("fec: storage unreachable")
	// ErrNotFound: the storage answered 404 (an unknown FEC, or an INDEX
	// naming a file that is not there). It comes together with
	// ErrUnreachable (for the INDEX) or ErrInstall (for an archive).
	ErrNotFound = errors.New("fec: not found on the storage")
	// ErrVerify: an INDEX that is unsigned, badly signed, for another FEC or
	// malformed; an archive or script whose size or sha256 differs from the
	// INDEX; an archive with an unsafe entry.
	ErrVerify = errors.New("fec: verification failed")
	// ErrInstall: an archive could not be downloaded or unpacked.
	ErrInstall = errors.New("fec: install failed")
	// ErrScript: an init script failed, hung past its timeout or could not
	// be executed.
	ErrScript = errors.New("fec: init script failed")
	// ErrRestart: a download that broke off cannot be resumed (the server
	// answered the Range request with the whole file or 416, or sent no
	// ETag/Last-Modified to resume with), so it starts over from byte zero.
	ErrRestart = errors.New("fec: download restarts from zero")
)

// Exit codes of fec-boot, documented in docs/boot.md.
const (
	ExitOK          = 0
	ExitConfig      = 2
	ExitUnreachable = 3
	ExitVerify      = 4
	ExitInstall     = 5
	ExitScript      = 6
)

// ExitCode maps an error from Boot or Install to the process exit code. When
// an error carries several classes (a boot where one archive failed
// verification and a script failed), the most severe wins, which is the
// lowest code: configuration (2), unreachable (3), verification (4),
// install (5), script (6). Any other error gives ExitInstall.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrConfig):
		return ExitConfig
	case errors.Is(err, ErrUnreachable):
		return ExitUnreachable
	case errors.Is(err, ErrVerify):
		return ExitVerify
	case errors.Is(err, ErrInstall):
		return ExitInstall
	case errors.Is(err, ErrScript):
		return ExitScript
	}
	return ExitInstall
}

// HTTPError is a final, non-retryable HTTP answer (after retries, if the
// status was retryable).
type HTTPError struct {
	URL        string // redacted
	StatusCode int
	Status     string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}

// Unwrap lets errors.Is(err, ErrNotFound) hold for a 404.
func (e *HTTPError) Unwrap() error {
	if e.StatusCode == 404 {
		return ErrNotFound
	}
	return nil
}

func configErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
}
