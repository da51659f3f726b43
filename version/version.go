// Package version parses and orders the versions of software in the web
// storage, and decides which of them may be removed (the retention plan, see
// Plan).
//
// A version is either a strict semantic version without build metadata
// (MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.2.3 or 2.0.0-rc.1) or the special
// version "dev" used for development releases. Parsing is strict on purpose:
// names that a lenient parser would coerce to the same version (v1.2.3,
// 01.2.3, 1.2.3+build5, 1.2) are refused with a message that says what to
// write instead, so a version is never present twice under two directory
// names.
package version

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/fair-acc/fecdeploy/index"
)

// Dev is the name of the development version. A FEC running a dev release
// installs it but does not start it as a daemon at boot.
const Dev = "dev"

// Errors returned by this package; test with errors.Is.
var (
	// ErrInvalid: the string is not a version name we accept. The error is
	// a *ParseError.
	ErrInvalid = errors.New("version: invalid version")
	// ErrCollides: a new version name would coerce to the same version as
	// an existing directory. The error is a *CollisionError.
	ErrCollides = errors.New("version: version collides with an existing one")
)

// ParseError says why a string is not a valid version and, where one can be
// derived, what to write instead. It wraps ErrInvalid and, when the string is
// not even a valid storage name, the *index.NameError (index.ErrBadName).
type ParseError struct {
	Input   string
	Reason  string // why it is refused
	Suggest string // the accepted spelling, if there is one
	Err     error  // underlying cause (e.g. *index.NameError), may be nil
}

func (e *ParseError) Error() string {
	msg := fmt.Sprintf("bad version %q: %s", e.Input, e.Reason)
	if e.Suggest != "" {
		msg += " → " + e.Suggest
	}
	return msg
}

// Unwrap returns ErrInvalid and the underlying cause.
func (e *ParseError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// Version is a parsed version: a strict semantic version or dev. The zero
// Version is not valid; it sorts before every valid one and String returns "".
type Version struct {
	name string
	sv   *semver.Version // nil for dev and the zero Version
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Parse accepts "dev" and strict semantic versions without build metadata
// that are also valid storage names (index.CheckName). Everything else is
// refused with a *ParseError that says why and, where possible, what to
// write instead (e.g. "v1.2.3": drop the leading 'v' → 1.2.3).
func Parse(s string) (Version, error) {
	if s == Dev {
		return Version{name: Dev}, nil
	}
	bad := func(reason, suggest string, err error) (Version, error) {
		return Version{}, &ParseError{Input: s, Reason: reason, Suggest: suggest, Err: err}
	}
	if s == "" {
		return bad("it is empty; write MAJOR.MINOR.PATCH (e.g. 1.2.3) or dev", "", nil)
	}
	if strings.EqualFold(s, Dev) {
		return bad("the development version is spelled in lower case", Dev, nil)
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		sug, _ := canonical(s[:i])
		return bad("build metadata ('+…') is not allowed ('+' is not a storage name character and "+
			"semver ignores it when ordering); drop it, or release the rebuild under a new patch version", sug, nil)
	}
	if len(s) > 1 && (s[0] == 'v' || s[0] == 'V') && s[1] >= '0' && s[1] <= '9' {
		sug, _ := canonical(s)
		return bad(fmt.Sprintf("drop the leading %q", s[0]), sug, nil)
	}
	if err := index.CheckName("version", s); err != nil {
		var ne *index.NameError
		reason := err.Error()
		if errors.As(err, &ne) {
			reason = ne.Reason
		}
		return bad(reason, "", err)
	}
	sv, err := semver.StrictNewVersion(s)
	if err != nil {
		sug, ok := canonical(s)
		switch {
		case errors.Is(err, semver.ErrSegmentStartsZero) && ok:
			return bad("numbers may not have leading zeros", sug, nil)
		case errors.Is(err, semver.ErrInvalidSemVer) && ok:
			return bad("a version has three numbers MAJOR.MINOR.PATCH", sug, nil)
		case errors.Is(err, semver.ErrInvalidPrerelease):
			return bad("the prerelease part (after the first '-') may contain only letters, digits, '-' and "+
				"non-empty dot-separated identifiers", "", nil)
		default:
			return bad("not a version: write MAJOR.MINOR.PATCH[-PRERELEASE] (e.g. 1.2.3 or 2.0.0-rc.1) or dev", "", nil)
		}
	}
	return Version{name: s, sv: sv}, nil
}

// canonical coerces a version-like string the way a lenient parser would
// (leading 'v', leading zeros, missing MINOR/PATCH, build metadata) and
// returns the strict spelling, if the result is a valid version.
func canonical(s string) (string, bool) {
	k, ok := coerce(s)
	if !ok {
		return "", false
	}
	if index.CheckName("version", k) != nil {
		return "", false
	}
	if _, err := semver.StrictNewVersion(k); err != nil {
		return "", false
	}
	return k, true
}

// coerce maps s to the strict spelling of the version a lenient parser would
// read from it. ok is false when s does not look like a numeric version.
func coerce(s string) (string, bool) {
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 0 && (s[0] == 'v' || s[0] == 'V') {
		s = s[1:]
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return "", false
	}
	for i, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return "", false
		}
		parts[i] = trimZeros(p)
	}
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	out := strings.Join(parts, ".")
	if hasPre {
		ids := strings.Split(pre, ".")
		for i, id := range ids {
			if id != "" && strings.Trim(id, "0123456789") == "" {
				ids[i] = trimZeros(id)
			}
		}
		out += "-" + strings.Join(ids, ".")
	}
	return out, true
}

func trimZeros(p string) string {
	p = strings.TrimLeft(p, "0")
	if p == "" {
		return "0"
	}
	return p
}

// String returns the version as written (the directory name).
func (v Version) String() string { return v.name }

// IsValid reports whether v came from a successful Parse.
func (v Version) IsValid() bool { return v.name != "" }

// IsDev reports whether v is the development version "dev".
func (v Version) IsDev() bool { return v.name == Dev }

// IsPrerelease reports whether v has a prerelease part (1.2.0-rc.1).
func (v Version) IsPrerelease() bool { return v.sv != nil && v.sv.Prerelease() != "" }

// IsProductive reports whether v counts as a productive release under the
// policy: not dev, and not a prerelease unless p.IncludePrereleases.
func (v Version) IsProductive(p Policy) bool {
	if v.sv == nil {
		return false
	}
	return p.IncludePrereleases || v.sv.Prerelease() == ""
}

// Compare returns -1, 0 or +1 as v is older than, the same as, or newer than
// o. Semantic versions are ordered by semver precedence (1.2.0-rc.1 <
// 1.2.0 < 1.10.0); dev is newer than every semantic version (it is the tip
// of development); the zero Version is older than everything. The order is
// total: versions with equal precedence but different spelling (which Parse
// never produces) are ordered by their names.
func (v Version) Compare(o Version) int {
	if c := v.rank() - o.rank(); c != 0 {
		if c < 0 {
			return -1
		}
		return 1
	}
	if v.sv != nil && o.sv != nil {
		if c := v.sv.Compare(o.sv); c != 0 {
			return c
		}
	}
	return strings.Compare(v.name, o.name)
}

func (v Version) rank() int {
	switch {
	case v.name == "":
		return 0
	case v.sv == nil:
		return 2 // dev
	default:
		return 1
	}
}

// Compare is a.Compare(b), for slices.SortFunc and friends.
func Compare(a, b Version) int { return a.Compare(b) }

// Sort sorts versions from oldest to newest.
func Sort(vs []Version) {
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Compare(vs[j]) < 0 })
}

// MarshalText implements encoding.TextMarshaler (the name as written).
func (v Version) MarshalText() ([]byte, error) { return []byte(v.name), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// CollisionError: Name would be read as the same version as the existing
// directories in Existing (e.g. publishing 1.2.3 next to a hand-made v1.2.3).
// It wraps ErrCollides.
type CollisionError struct {
	Name     string
	Existing []string // sorted
}

func (e *CollisionError) Error() string {
	return fmt.Sprintf("version %q collides with existing %s: both name the same version once 'v' prefixes, "+
		"leading zeros, missing parts, build metadata and letter case are ignored; use the existing name, "+
		"or remove or rename the existing directory first",
		e.Name, quoteList(e.Existing))
}

func (e *CollisionError) Unwrap() error { return ErrCollides }

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// CollisionKey returns the key under which two version names are considered
// the same version: the coerced spelling (no 'v' prefix, no leading zeros,
// three numbers, no build metadata), in lower case. Names that do not look
// like versions are their own key (in lower case).
func CollisionKey(name string) string {
	if k, ok := coerce(name); ok {
		return strings.ToLower(k)
	}
	return strings.ToLower(name)
}

// CheckCollision reports, as a *CollisionError, whether name would be read as
// the same version as one of the existing directory names (other than name
// itself, which is not a collision: whether republishing an existing version
// is allowed is the publisher's decision). Examples: 1.2.3 collides with
// existing v1.2.3, 01.2.3, 1.2.3+b1, 1.2 collides with 1.2.0, 1.2.3-RC1 with
// 1.2.3-rc1, DEV with dev.
func CheckCollision(name string, existing []string) error {
	key := CollisionKey(name)
	var hits []string
	for _, e := range existing {
		if e != name && CollisionKey(e) == key {
			hits = append(hits, e)
		}
	}
	if len(hits) == 0 {
		return nil
	}
	sort.Strings(hits)
	return &CollisionError{Name: name, Existing: hits}
}
