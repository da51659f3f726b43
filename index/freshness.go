package index

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Freshness: a signed INDEX carries serial= and expires= in its header
// (docs/index-format.md, docs/security.md). The serial stops a replay of an
// older, validly signed INDEX (a client refuses a serial below the highest
// it accepted); the expiry stops a freeze (a server that keeps serving the
// last INDEX forever). Both are plain decimal numbers without leading zeros
// so that a busybox shell compares them as strings (longer is larger, equal
// lengths compare byte-wise) without 64-bit arithmetic.

// Header keys of the freshness fields.
const (
	SerialKey  = "serial"
	ExpiresKey = "expires"
)

// MaxSerialDigits bounds serial= (and expires=): 19 digits fit an int64 and
// a uint64, and a shell compares them as strings.
const MaxSerialDigits = 19

// DefaultLifetime is how long a freshly signed INDEX stays valid. The
// writer's routine re-signing (fecctl resign, examples/systemd) runs daily,
// so an idle FEC's INDEX never expires in normal operation and a frozen
// server is noticed within a week at most.
const DefaultLifetime = 7 * 24 * time.Hour

// Errors of the freshness checks; test with errors.Is.
var (
	ErrReplay  = errors.New("index: INDEX is older than the one already accepted (replay)")
	ErrExpired = errors.New("index: INDEX has expired")
)

// CheckDecimal checks a serial= or expires= value: digits only, no leading
// zero (except "0" itself), at most MaxSerialDigits digits.
func CheckDecimal(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is empty", what)
	case len(v) > MaxSerialDigits:
		return fmt.Errorf("%s %q has more than %d digits", what, v, MaxSerialDigits)
	case len(v) > 1 && v[0] == '0':
		return fmt.Errorf("%s %q has a leading zero", what, v)
	}
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return fmt.Errorf("%s %q is not a plain decimal number", what, v)
		}
	}
	return nil
}

// NextSerial returns the serial to issue now: the current time in unix
// nanoseconds, or one more than the largest serial already issued when
// that is higher (a clock set back never makes the writer issue a lower
// serial, as long as it knows the previous one: docs/security.md).
func NextSerial(now time.Time, previous ...uint64) uint64 {
	s := uint64(max(now.UnixNano(), 1))
	for _, p := range previous {
		if p >= s {
			s = p + 1
		}
	}
	return s
}

// CheckFresh applies the client rules to a verified, parsed INDEX: its
// serial must not be below accepted (the highest serial this FEC accepted
// before, 0 = none) and it must not have expired at now, unless clockSane
// is false (the FEC's clock is before the client's build date: it cannot
// tell the time, so only the serial rule applies). An INDEX without
// serial= is accepted only while accepted is 0 (a site that never signed
// with serials); an INDEX without expires= never expires.
func CheckFresh(ix *Index, accepted uint64, now time.Time, clockSane bool) error {
	if ix.Serial < accepted {
		if ix.Serial == 0 {
			return fmt.Errorf("%w: it has no serial, this FEC already accepted serial %d", ErrReplay, accepted)
		}
		return fmt.Errorf("%w: serial %d, this FEC already accepted serial %d", ErrReplay, ix.Serial, accepted)
	}
	if clockSane && !ix.Expires.IsZero() && !now.Before(ix.Expires) {
		return fmt.Errorf("%w: it expired at %s, the clock says %s (is the writer's re-signing job running?)",
			ErrExpired, ix.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func parseDecimal(what, v string) (uint64, error) {
	if err := CheckDecimal(what, v); err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %v", what, v, err)
	}
	return n, nil
}

// ClientEpoch is the date of these freshness rules (2026-12-01 UTC): a FEC
// whose clock says earlier has an unset clock (no battery, no NTP yet) and
// cannot judge expiry; CheckFresh then applies only the serial rule. Both
// clients use this one date (fec-boot.sh: CLIENT_EPOCH).
var ClientEpoch = time.Unix(1796083200, 0).UTC()

// ClockSane reports whether a FEC's clock can judge expiry.
func ClockSane(now time.Time) bool { return !now.Before(ClientEpoch) }
