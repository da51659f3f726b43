package index

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckName(t *testing.T) {
	t.Parallel()
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
			assert.NoError(t, err, "%q", tc.name)
			continue
		}
		if !assert.ErrorIs(t, err, ErrBadName, "%q", tc.name) {
			continue
		}
		var ne *NameError
		if assert.ErrorAs(t, err, &ne, "%q", tc.name) {
			assert.Equal(t, "software name", ne.What)
			assert.Equal(t, tc.name, ne.Name)
		}
		assert.ErrorContains(t, err, tc.msg, "%q", tc.name)
		assert.ErrorContains(t, err, "software name", "%q", tc.name)
	}
}

func TestCheckFECName(t *testing.T) {
	t.Parallel()
	assert.NoError(t, CheckFECName("fec01"))
	err := CheckFECName("global")
	assert.ErrorIs(t, err, ErrBadName)
	assert.ErrorContains(t, err, "shared init scripts")
	err = CheckFECName("fec 01")
	assert.ErrorIs(t, err, ErrBadName)
	assert.ErrorContains(t, err, "FEC name")
}

func TestCheckPath(t *testing.T) {
	t.Parallel()
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
		if tc.ok {
			assert.NoError(t, err, "%q", tc.p)
			continue
		}
		assert.ErrorIs(t, err, ErrBadName, "%q", tc.p)
		assert.ErrorContains(t, err, tc.msg, "%q", tc.p)
	}
}
