package version

import (
	"encoding/json"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in               string
		dev, pre, prodIn bool
	}{
		{in: "0.0.0", prodIn: true},
		{in: "1.2.3", prodIn: true},
		{in: "10.20.30", prodIn: true},
		{in: "1.2.3-rc.1", pre: true},
		{in: "1.2.3-alpha-2", pre: true},
		{in: "1.2.3-0.3.7", pre: true},
		{in: "1.0.0-x.7.z.92", pre: true},
		{in: "dev", dev: true},
	} {
		v, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		assert.False(t, v.String() != tc.in || !v.IsValid(), "Parse(%q).String() = %q, valid %v", tc.in, v.String(), v.IsValid())
		assert.False(t, v.IsDev() != tc.dev || v.IsPrerelease() != tc.pre, "Parse(%q): IsDev %v IsPrerelease %v, want %v %v", tc.in, v.IsDev(), v.IsPrerelease(), tc.dev, tc.pre)
		if got := v.IsProductive(Policy{}); got != tc.prodIn {
			t.Errorf("Parse(%q).IsProductive(default) = %v, want %v", tc.in, got, tc.prodIn)
		}
		if got, want := v.IsProductive(Policy{IncludePrereleases: true}), !tc.dev; got != want {
			t.Errorf("Parse(%q).IsProductive(IncludePrereleases) = %v, want %v", tc.in, got, want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, reason, suggest string
		nameErr             bool // also wraps index.ErrBadName
	}{
		{in: "", reason: "empty"},
		{in: "v1.2.3", reason: "drop the leading 'v'", suggest: "1.2.3"},
		{in: "V1.2.3", reason: "drop the leading 'V'", suggest: "1.2.3"},
		{in: "v01.02.03", reason: "leading 'v'", suggest: "1.2.3"},
		{in: "01.2.3", reason: "leading zeros", suggest: "1.2.3"},
		{in: "1.02.3", reason: "leading zeros", suggest: "1.2.3"},
		{in: "1.2.3-rc.01", reason: "leading zeros", suggest: "1.2.3-rc.1"},
		{in: "1.2.3+build5", reason: "build metadata", suggest: "1.2.3"},
		{in: "1.2.3-rc.1+20240101", reason: "build metadata", suggest: "1.2.3-rc.1"},
		{in: "v1.2+x", reason: "build metadata", suggest: "1.2.0"},
		{in: "1.2", reason: "three numbers", suggest: "1.2.0"},
		{in: "1", reason: "three numbers", suggest: "1.0.0"},
		{in: "1.2.3.4", reason: "not a version"},
		{in: "DEV", reason: "lower case", suggest: "dev"},
		{in: "Dev", reason: "lower case", suggest: "dev"},
		{in: "latest", reason: "not a version"},
		{in: "1.2.3-rc_1", reason: "prerelease part"},
		{in: "1.2.3-", reason: "prerelease part"},
		{in: "1.2.3 ", reason: "space", nameErr: true},
		{in: "1.2/3", reason: "path separator", nameErr: true},
		{in: "../1.2.3", reason: "starts with", nameErr: true},
		{in: ".1.2.3", reason: "starts with", nameErr: true},
		{in: "-1.2.3", reason: "starts with", nameErr: true},
		{in: "1.2.3-" + strings.Repeat("a", 100), reason: "at most 100", nameErr: true},
	} {
		v, err := Parse(tc.in)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, %v; want a *ParseError wrapping ErrInvalid", tc.in, v, err)
			continue
		}
		assert.False(t, v.IsValid(), "Parse(%q) returned a valid version with an error", tc.in)
		assert.True(t, strings.Contains(pe.Reason, tc.reason), "Parse(%q): reason %q does not mention %q", tc.in, pe.Reason, tc.reason)
		assert.False(t, pe.Suggest != tc.suggest, "Parse(%q): suggestion %q, want %q", tc.in, pe.Suggest, tc.suggest)
		if tc.suggest != "" {
			if _, err := Parse(tc.suggest); err != nil {
				t.Errorf("Parse(%q) suggests %q, which does not parse: %v", tc.in, tc.suggest, err)
			}
			assert.True(t, strings.Contains(err.Error(), "→ "+tc.suggest), "Parse(%q): message %q does not say what to write", tc.in, err)
		}
		if got := errors.Is(err, index.ErrBadName); got != tc.nameErr {
			t.Errorf("Parse(%q): errors.Is(err, index.ErrBadName) = %v, want %v", tc.in, got, tc.nameErr)
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := Parse("v1.2.3")
	if got, want := err.Error(), `bad version "v1.2.3": drop the leading 'v' → 1.2.3`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestCompareAndSort(t *testing.T) {
	t.Parallel()
	// Oldest to newest.
	order := []string{
		"0.0.1", "0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0", "2.0.0", "dev",
	}
	want := make([]Version, len(order))
	for i, s := range order {
		want[i] = MustParse(s)
	}
	for i := range want {
		for j := range want {
			got := want[i].Compare(want[j])
			exp := 0
			if i < j {
				exp = -1
			} else if i > j {
				exp = 1
			}
			assert.False(t, got != exp, "%s.Compare(%s) = %d, want %d", want[i], want[j], got, exp)
		}
		if c := Compare(Version{}, want[i]); c != -1 {
			t.Errorf("zero Version compared to %s = %d, want -1", want[i], c)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for n := 0; n < 20; n++ {
		vs := append([]Version(nil), want...)
		rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		Sort(vs)
		for i := range vs {
			require.False(t, vs[i].String() != order[i], "Sort: position %d is %s, want %s", i, vs[i], order[i])
		}
	}
}

func TestTextRoundTrip(t *testing.T) {
	t.Parallel()
	var got struct{ V Version }
	require.NoError(t, json.Unmarshal([]byte(`{"V":"1.2.3-rc.1"}`), &got))
	assert.False(t, got.V.String() != "1.2.3-rc.1" || !got.V.IsPrerelease(), "unmarshalled %v", got.V)
	b, err := json.Marshal(got)
	assert.False(t, err != nil || string(b) != `{"V":"1.2.3-rc.1"}`, "marshalled %s, %v", b, err)
	err = json.Unmarshal([]byte(`{"V":"v1.2.3"}`), &got)
	assert.ErrorIs(t, err, ErrInvalid, "unmarshalling v1.2.3: %v, want ErrInvalid", err)
}

func TestCheckCollision(t *testing.T) {
	t.Parallel()
	existing := []string{"1.2.3", "2.0.0-RC1", "dev", "v3.0.0", "04.0.0", "5.1", "6.0.0+b7", "latest"}
	for _, tc := range []struct {
		name string
		hits []string // nil: no collision
	}{
		{"1.2.3", nil}, // itself: not a collision
		{"v1.2.3", []string{"1.2.3"}},
		{"01.2.3", []string{"1.2.3"}},
		{"1.02.03", []string{"1.2.3"}},
		{"1.2.3+build9", []string{"1.2.3"}},
		{"1.2.4", nil},
		{"1.2.3-rc.1", nil},
		{"2.0.0-rc1", []string{"2.0.0-RC1"}},
		{"DEV", []string{"dev"}},
		{"3.0.0", []string{"v3.0.0"}},
		{"4.0.0", []string{"04.0.0"}},
		{"5.1.0", []string{"5.1"}},
		{"6.0.0", []string{"6.0.0+b7"}},
		{"Latest", []string{"latest"}},
		{"7.0.0", nil},
	} {
		err := CheckCollision(tc.name, existing)
		if tc.hits == nil {
			assert.False(t, err != nil, "CheckCollision(%q): %v, want none", tc.name, err)
			continue
		}
		var ce *CollisionError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCollides) {
			t.Errorf("CheckCollision(%q) = %v, want a *CollisionError wrapping ErrCollides", tc.name, err)
			continue
		}
		assert.False(t, strings.Join(ce.Existing, ",") != strings.Join(tc.hits, ",") || ce.Name != tc.name, "CheckCollision(%q) names %q / %v, want %v", tc.name, ce.Name, ce.Existing, tc.hits)
		assert.True(t, strings.Contains(err.Error(), `"`+tc.hits[0]+`"`), "message %q does not name the existing directory", err)
	}
	// Several existing directories collide with one name: all are named, sorted.
	err := CheckCollision("1.2.3", []string{"v1.2.3", "01.2.3", "1.2.3"})
	var ce *CollisionError
	assert.False(t, !errors.As(err, &ce) || strings.Join(ce.Existing, ",") != "01.2.3,v1.2.3", "got %v", err)
}

// Every name that Parse accepts is its own collision key's only valid
// spelling: two distinct valid names never collide unless they differ only
// in letter case of the prerelease.
func TestValidNamesCollideOnlyByCase(t *testing.T) {
	t.Parallel()
	names := []string{"1.2.3", "1.2.30", "1.20.3", "12.3.0", "1.2.3-rc.1", "1.2.3-rc1", "1.2.3-rc.10", "0.0.0", "dev"}
	for i, a := range names {
		for j, b := range names {
			assert.False(t, i != j && CollisionKey(a) == CollisionKey(b), "%q and %q collide", a, b)
		}
	}
}
