package index

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest FEC, software, version, script or file name accepted.
const MaxNameLen = 100

// ReservedFEC is the folder of shared init scripts; it cannot be a FEC's name.
const ReservedFEC = "global"

// NameError says which name is refused and why. Check it with errors.As; it
// wraps ErrBadName.
type NameError struct {
	What   string // "FEC name", "software name", "version", ...
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("bad %s %q: %s", e.What, e.Name, e.Reason)
}

func (e *NameError) Unwrap() error { return ErrBadName }

// CheckName validates one name (a FEC, software, version, script or archive
// file name). The safe set is ASCII letters, digits, '.', '_' and '-'; the
// first character must be a letter or digit, so no name is hidden, relative
// ("." or "..") or taken for a command-line option. The set keeps names
// usable unquoted in URLs, shell scripts and the space-separated INDEX.
// what names the kind of name in the error ("FEC name", "version", ...).
func CheckName(what, s string) error {
	bad := func(reason string) error { return &NameError{What: what, Name: s, Reason: reason} }
	if s == "" {
		return bad("it is empty")
	}
	if len(s) > MaxNameLen {
		return bad(fmt.Sprintf("it is %d characters long, at most %d are allowed", len(s), MaxNameLen))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '-':
			if i == 0 {
				return bad(fmt.Sprintf("it starts with %q; a name must start with a letter or digit", c))
			}
		default:
			return bad(fmt.Sprintf("character %s at position %d is not allowed; use only letters, digits, '.', '_' and '-'",
				describeByte(s, i), i+1))
		}
	}
	return nil
}

// CheckFECName is CheckName for FEC names, which also may not be "global".
func CheckFECName(s string) error {
	if err := CheckName("FEC name", s); err != nil {
		return err
	}
	if s == ReservedFEC {
		return &NameError{What: "FEC name", Name: s, Reason: "\"global\" is the folder of shared init scripts, not a FEC"}
	}
	return nil
}

// CheckPath validates a storage-relative path as it appears in an INDEX:
// slash-separated, not absolute, every segment a valid name. This is what
// keeps a hostile INDEX from pointing a FEC outside the web storage.
func CheckPath(p string) error {
	if p == "" {
		return &NameError{What: "path", Name: p, Reason: "it is empty"}
	}
	if strings.HasPrefix(p, "/") {
		return &NameError{What: "path", Name: p, Reason: "it is absolute; INDEX paths are relative to the storage base"}
	}
	for _, seg := range strings.Split(p, "/") {
		if err := CheckName("path segment", seg); err != nil {
			return &NameError{What: "path", Name: p, Reason: err.(*NameError).Reason}
		}
	}
	return nil
}

func describeByte(s string, i int) string {
	c := s[i]
	switch {
	case c == ' ':
		return "' ' (space)"
	case c == '/':
		return "'/' (a name cannot contain a path separator)"
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("0x%02x (a control character)", c)
	case c >= 0x80:
		return fmt.Sprintf("0x%02x (non-ASCII)", c)
	default:
		return fmt.Sprintf("%q", c)
	}
}
