package index

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		msg  string
	}{
		{"Foo_DU", true, ""},
		{"1.2.0", true, ""},
		{"10-network", true, ""},
		{"x86_64", true, ""},
		{"a", true, ""},
		{strings.Repeat("a", MaxNameLen), true, ""},
		{"", false, "empty"},
		{strings.Repeat("a", MaxNameLen+1), false, "101 characters"},
		{".hidden", false, "starts with '.'"},
		{"..", false, "starts with '.'"},
		{"-rf", false, "starts with '-'"},
		{"_x", false, "starts with '_'"},
		{"a b", false, "' ' (space)"},
		{"a/b", false, "path separator"},
		{"a\tb", false, "control character"},
		{"a\nb", false, "control character"},
		{"grün", false, "non-ASCII"},
		{"a:b", false, "':'"},
		{"a*", false, "'*'"},
		{"$(x)", false, "'$'"},
		{"a=b", false, "'='"},
	} {
		err := CheckName("software name", tc.name)
		if tc.ok {
			if err != nil {
				t.Errorf("%q: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadName) {
			t.Errorf("%q: %v, want ErrBadName", tc.name, err)
			continue
		}
		var ne *NameError
		if !errors.As(err, &ne) || ne.What != "software name" || ne.Name != tc.name {
			t.Errorf("%q: %#v", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "software name") {
			t.Errorf("%q: message %q does not say %q", tc.name, err, tc.msg)
		}
	}
}

func TestCheckFECName(t *testing.T) {
	if err := CheckFECName("fec01"); err != nil {
		t.Error(err)
	}
	err := CheckFECName("global")
	if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), "shared init scripts") {
		t.Errorf("global: %v", err)
	}
	if err := CheckFECName("fec 01"); !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), "FEC name") {
		t.Errorf("fec 01: %v", err)
	}
}

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		p   string
		ok  bool
		msg string
	}{
		{"software/Foo/1.0/Foo-1.0-x86_64.tar.zst", true, ""},
		{"fecs/global/10-network", true, ""},
		{"a", true, ""},
		{"", false, "empty"},
		{"/etc/passwd", false, "absolute"},
		{"software/../etc", false, "starts with '.'"},
		{"./a", false, "starts with '.'"},
		{"a//b", false, "empty"},
		{"a/", false, "empty"},
		{"a/b c", false, "space"},
		{`a\b`, false, `'\\'`},
	} {
		err := CheckPath(tc.p)
		if tc.ok != (err == nil) {
			t.Errorf("%q: %v", tc.p, err)
			continue
		}
		if !tc.ok && (!errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("%q: %v, want ErrBadName saying %q", tc.p, err, tc.msg)
		}
	}
}
