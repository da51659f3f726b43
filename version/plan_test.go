package version

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)

// vi builds a VersionInput: "1.2.0" or "1.2.0@fec01,fec02".
func vi(spec string) VersionInput {
	name, fecs, _ := strings.Cut(spec, "@")
	in := VersionInput{Name: name}
	if fecs != "" {
		in.LinkedBy = strings.Split(fecs, ",")
	}
	return in
}

func plan1(pol Policy, vs ...VersionInput) Plan {
	return NewPlan(PlanInput{Now: now, Policy: pol, Software: []SoftwareInput{{Name: "Foo_DU", Versions: vs}}})
}

// summary renders decisions as "version:action:reason", newest first.
func summary(p Plan) string {
	var s []string
	for _, sp := range p.Software {
		for _, d := range sp.Versions {
			s = append(s, d.Version+":"+d.Action.String()+":"+d.Reason.String())
		}
	}
	return strings.Join(s, " ")
}

func TestPlanTable(t *testing.T) {
	t.Parallel()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name   string
		pol    Policy
		in     []VersionInput
		want   string
		texts  map[string]string // version -> substring of its text
		warned string            // substring of a warning, "" = no warnings
	}{
		{
			name: "three or fewer: all kept",
			in:   []VersionInput{vi("1.0.0"), vi("1.1.0"), vi("2.0.0")},
			want: "2.0.0:keep:newest 1.1.0:keep:newest 1.0.0:keep:newest",
			texts: map[string]string{
				"2.0.0": "1st newest productive version (keeping 3)",
				"1.0.0": "3rd newest",
			},
		},
		{
			name:  "fourth newest removed",
			in:    []VersionInput{vi("1.0.0"), vi("1.1.0"), vi("1.10.0"), vi("1.2.0")},
			want:  "1.10.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:newest 1.0.0:remove:superseded",
			texts: map[string]string{"1.0.0": "4th newest productive version, not linked (keeping 3)"},
		},
		{
			name: "old linked kept on top, with a warning",
			in: []VersionInput{vi("1.0.0@fec07,fec01"), vi("1.1.0"), vi("1.2.0"), vi("1.3.0"),
				vi("1.4.0")},
			want:   "1.4.0:keep:newest 1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:remove:superseded 1.0.0:keep:linked",
			texts:  map[string]string{"1.0.0": "linked by fec01, fec07"},
			warned: "4 productive versions kept, more than 3, because FECs still link older ones: 1.0.0",
		},
		{
			name: "newer unlinked never given up for older linked",
			in:   []VersionInput{vi("1.0.0@a"), vi("1.1.0@b"), vi("1.2.0@c"), vi("2.0.0"), vi("2.1.0"), vi("2.2.0")},
			want: "2.2.0:keep:newest 2.1.0:keep:newest 2.0.0:keep:newest 1.2.0:keep:linked 1.1.0:keep:linked " +
				"1.0.0:keep:linked",
			warned: "6 productive versions kept",
		},
		{
			name:  "linked among the newest: no warning",
			in:    []VersionInput{vi("1.0.0"), vi("1.1.0@fec1"), vi("1.2.0"), vi("1.3.0")},
			want:  "1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:linked 1.0.0:remove:superseded",
			texts: map[string]string{"1.1.0": "linked by fec1"},
		},
		{
			name: "grace: recently unlinked and recently published",
			in: []VersionInput{vi("1.0.0"), {Name: "1.1.0", Unlinked: ago(2 * time.Hour)},
				{Name: "1.2.0", Published: ago(5 * time.Minute)}, vi("1.3.0"), vi("1.4.0"), vi("1.5.0"),
				{Name: "0.9.0", Unlinked: ago(25 * time.Hour), Published: ago(48 * time.Hour)}},
			want: "1.5.0:keep:newest 1.4.0:keep:newest 1.3.0:keep:newest 1.2.0:keep:recently-published " +
				"1.1.0:keep:recently-unlinked 1.0.0:remove:superseded 0.9.0:remove:superseded",
			texts: map[string]string{
				"1.1.0": "unlinked 2h ago, inside the 24h grace period",
				"1.2.0": "published 5m ago, inside the 24h grace period",
			},
		},
		{
			name:  "unlinked in the future (clock skew) counts as inside",
			in:    []VersionInput{{Name: "1.0.0", Unlinked: now.Add(time.Hour)}, vi("1.1.0"), vi("1.2.0"), vi("1.3.0")},
			want:  "1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:newest 1.0.0:keep:recently-unlinked",
			texts: map[string]string{"1.0.0": "1h in the future (clock skew?)"},
		},
		{
			name: "NoGrace",
			pol:  Policy{Grace: NoGrace},
			in:   []VersionInput{{Name: "1.0.0", Unlinked: now}, vi("1.1.0"), vi("1.2.0"), vi("1.3.0")},
			want: "1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:newest 1.0.0:remove:superseded",
		},
		{
			name: "custom grace",
			pol:  Policy{Grace: time.Hour},
			in: []VersionInput{{Name: "1.0.0", Unlinked: ago(59 * time.Minute)}, {Name: "0.1.0", Unlinked: ago(time.Hour)},
				vi("1.1.0"), vi("1.2.0"), vi("1.3.0")},
			want:  "1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:newest 1.0.0:keep:recently-unlinked 0.1.0:remove:superseded",
			texts: map[string]string{"1.0.0": "inside the 1h grace period"},
		},
		{
			name: "keep 1",
			pol:  Policy{Keep: 1},
			in:   []VersionInput{vi("1.0.0"), vi("1.1.0")},
			want: "1.1.0:keep:newest 1.0.0:remove:superseded",
		},
		{
			name: "prereleases: ahead kept, behind removed",
			in: []VersionInput{vi("1.0.0"), vi("1.1.0-rc.1"), vi("1.1.0"), vi("1.2.0-rc.1"), vi("1.2.0-rc.2"),
				vi("1.0.0-beta@fec3")},
			want: "1.2.0-rc.2:keep:prerelease-ahead 1.2.0-rc.1:keep:prerelease-ahead 1.1.0:keep:newest " +
				"1.1.0-rc.1:remove:prerelease-superseded 1.0.0:keep:newest 1.0.0-beta:keep:linked",
			texts: map[string]string{
				"1.2.0-rc.2": "prerelease newer than the newest productive version 1.1.0 (1st of at most 3 kept)",
				"1.1.0-rc.1": "prerelease older than the newest productive version 1.1.0, not linked",
			},
		},
		{
			name: "prereleases ahead capped at Keep",
			in: []VersionInput{vi("1.0.0"), vi("2.0.0-rc.1"), vi("2.0.0-rc.2"), vi("2.0.0-rc.3"), vi("2.0.0-rc.4"),
				vi("2.0.0-rc.5@fec9")},
			want: "2.0.0-rc.5:keep:linked 2.0.0-rc.4:keep:prerelease-ahead 2.0.0-rc.3:keep:prerelease-ahead " +
				"2.0.0-rc.2:remove:prerelease-superseded 2.0.0-rc.1:remove:prerelease-superseded 1.0.0:keep:newest",
			texts: map[string]string{"2.0.0-rc.2": "4th newest prerelease ahead of 1.0.0, not linked (keeping 3)"},
		},
		{
			name:  "prereleases, no productive version yet",
			in:    []VersionInput{vi("0.1.0-a"), vi("0.1.0-b"), vi("0.1.0-c"), vi("0.1.0-d")},
			want:  "0.1.0-d:keep:prerelease-ahead 0.1.0-c:keep:prerelease-ahead 0.1.0-b:keep:prerelease-ahead 0.1.0-a:remove:prerelease-superseded",
			texts: map[string]string{"0.1.0-d": "no productive version yet", "0.1.0-a": "(no productive version)"},
		},
		{
			name: "IncludePrereleases: they compete for the newest places",
			pol:  Policy{IncludePrereleases: true},
			in:   []VersionInput{vi("1.0.0"), vi("1.1.0"), vi("1.2.0-rc.1"), vi("1.2.0")},
			want: "1.2.0:keep:newest 1.2.0-rc.1:keep:newest 1.1.0:keep:newest 1.0.0:remove:superseded",
		},
		{
			name:  "dev kept by default, linked or not",
			in:    []VersionInput{vi("dev"), vi("1.0.0")},
			want:  "dev:keep:dev 1.0.0:keep:newest",
			texts: map[string]string{"dev": "never removed automatically"},
		},
		{
			name: "PruneDev removes an unlinked dev outside grace only",
			pol:  Policy{PruneDev: true},
			in:   []VersionInput{vi("dev"), vi("1.0.0")},
			want: "dev:remove:dev-unused 1.0.0:keep:newest",
		},
		{
			name: "PruneDev keeps a linked dev",
			pol:  Policy{PruneDev: true},
			in:   []VersionInput{vi("dev@fec2")},
			want: "dev:keep:linked",
		},
		{
			name: "PruneDev keeps a dev inside grace",
			pol:  Policy{PruneDev: true},
			in:   []VersionInput{{Name: "dev", Published: now.Add(-time.Minute)}},
			want: "dev:keep:recently-published",
		},
		{
			name: "names that are not versions are kept and warned about",
			in:   []VersionInput{vi("v1.0.0"), vi("latest"), vi("1.1.0"), vi("1.2.0"), vi("1.3.0"), vi("1.4.0")},
			want: "1.4.0:keep:newest 1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:remove:superseded " +
				"latest:keep:not-a-version v1.0.0:keep:not-a-version",
			texts:  map[string]string{"v1.0.0": "drop the leading 'v' → 1.0.0"},
			warned: `directory "latest" is not a valid version`,
		},
		{
			name:   "a linked invalid name is kept as linked, with a warning",
			in:     []VersionInput{vi("v1.0.0@fec1")},
			want:   "v1.0.0:keep:linked",
			warned: "FECs link directories that are not valid versions: v1.0.0",
		},
		{
			name: "held versions are kept, beyond the newest with a warning",
			in: []VersionInput{{Name: "1.0.0", Held: []string{"a broken link names it"}}, vi("1.1.0"), vi("1.2.0"),
				vi("1.3.0"), {Name: "1.4.0", Held: []string{"x"}}},
			want:   "1.4.0:keep:held 1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:remove:superseded 1.0.0:keep:held",
			texts:  map[string]string{"1.0.0": "held: a broken link names it"},
			warned: "because FECs still link older ones: 1.0.0 (held)",
		},
		{
			name:  "many FECs abbreviated in the text, all in LinkedBy",
			in:    []VersionInput{vi("1.0.0@f1,f2,f3,f4,f5,f6,f7")},
			want:  "1.0.0:keep:linked",
			texts: map[string]string{"1.0.0": "linked by f1, f2, f3, f4, f5 and 2 more FECs"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plan1(tc.pol, tc.in...)
			if got := summary(p); got != tc.want {
				t.Errorf("plan\n got %s\nwant %s", got, tc.want)
			}
			for _, d := range p.Software[0].Versions {
				if sub, ok := tc.texts[d.Version]; ok && !strings.Contains(d.Text, sub) {
					t.Errorf("%s: text %q does not contain %q", d.Version, d.Text, sub)
				}
				assert.False(t, d.Text == "" || d.Reason == 0 || d.Software != "Foo_DU", "%s: incomplete decision %+v", d.Version, d)
			}
			var warns []string
			for _, w := range p.Warnings {
				warns = append(warns, w.Text)
			}
			switch {
			case tc.warned == "" && len(warns) > 0:
				t.Errorf("unexpected warnings %q", warns)
			case tc.warned != "" && !strings.Contains(strings.Join(warns, "\n"), tc.warned):
				t.Errorf("warnings %q do not contain %q", warns, tc.warned)
			}
		})
	}
}

func TestPlanLinkedByComplete(t *testing.T) {
	t.Parallel()
	p := plan1(Policy{}, vi("1.0.0@f7,f1,f3,f2,f5,f6,f4,f1"))
	if got := p.Software[0].Versions[0].LinkedBy; !reflect.DeepEqual(got, []string{"f1", "f2", "f3", "f4", "f5", "f6", "f7"}) {
		t.Errorf("LinkedBy = %v, want sorted and unique", got)
	}
}

func TestPlanDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	in := []VersionInput{vi("1.0.0@b,a"), vi("2.0.0"), vi("1.0.0@c")}
	plan1(Policy{}, in...)
	assert.False(t, in[0].Name != "1.0.0" || strings.Join(in[0].LinkedBy, ",") != "b,a" || in[2].LinkedBy[0] != "c", "input modified: %+v", in)
}

func TestPlanEffectivePolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want Policy }{
		{Policy{}, Policy{Keep: 3, Grace: 24 * time.Hour}},
		{Policy{Keep: -2, Grace: NoGrace}, Policy{Keep: 3, Grace: NoGrace}},
		{Policy{Grace: -time.Hour}, Policy{Keep: 3, Grace: NoGrace}},
		{Policy{Keep: 5, Grace: time.Minute, IncludePrereleases: true, PruneDev: true},
			Policy{Keep: 5, Grace: time.Minute, IncludePrereleases: true, PruneDev: true}},
	} {
		if got := tc.in.Effective(); got != tc.want {
			t.Errorf("%+v.Effective() = %+v, want %+v", tc.in, got, tc.want)
		}
		if got := NewPlan(PlanInput{Policy: tc.in}).Policy; got != tc.want {
			t.Errorf("plan policy %+v, want %+v", got, tc.want)
		}
		if got := tc.want.Effective(); got != tc.want {
			t.Errorf("Effective is not idempotent: %+v -> %+v", tc.want, got)
		}
	}
}

func TestPlanJSONAndText(t *testing.T) {
	t.Parallel()
	p := plan1(Policy{}, vi("1.0.0"), vi("1.1.0@fec1"), vi("1.2.0"), vi("1.3.0"), vi("0.9.0@fec2"))
	b, err := json.Marshal(p)
	require.NoError(t, err)
	for _, want := range []string{`"action":"remove"`, `"reason":"superseded"`, `"linked_by":["fec1"]`,
		`"policy":{"keep":3,"grace":86400000000000`, `"warnings":[{"software":"Foo_DU"`} {
		assert.True(t, strings.Contains(string(b), want), "JSON lacks %s:\n%s", want, b)
	}
	assert.False(t, strings.Contains(string(b), `"unlinked"`), "zero times should be omitted:\n%s", b)
	var sb strings.Builder
	require.NoError(t, p.WriteText(&sb, false))
	want := "remove Foo_DU 1.0.0: 4th newest productive version, not linked (keeping 3)\n" +
		"warning: Foo_DU: 4 productive versions kept, more than 3, because FECs still link older ones: 0.9.0; " +
		"switch those FECs to a newer version (fecctl who-uses Foo_DU VERSION) to let them go\n" +
		"1 software, 4 versions kept, 1 to remove (keep 3 newest productive, grace 24h)\n"
	assert.False(t, sb.String() != want, "text\n got %q\nwant %q", sb.String(), want)
	if rm := p.Removals(); len(rm) != 1 || rm[0].Version != "1.0.0" {
		t.Errorf("Removals() = %+v", rm)
	}
}

// --- property-style tests over random inputs ---

var pool = []string{
	"0.1.0", "0.9.0", "1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.10.0", "2.0.0", "2.0.0-rc.1", "2.0.0-rc.2",
	"2.1.0-beta", "3.0.0", "3.0.0-alpha", "10.0.0", "dev", "v1.0.0", "latest", "01.2.3",
}

func randomInput(rng *rand.Rand) PlanInput {
	in := PlanInput{Now: now, Policy: Policy{
		Keep:               rng.Intn(5) - 1,
		Grace:              []time.Duration{0, NoGrace, time.Hour, 48 * time.Hour}[rng.Intn(4)],
		IncludePrereleases: rng.Intn(3) == 0,
		PruneDev:           rng.Intn(2) == 0,
	}}
	for s := 0; s < 1+rng.Intn(4); s++ {
		sw := SoftwareInput{Name: fmt.Sprintf("sw%d", s)}
		for _, name := range pool {
			if rng.Intn(2) == 0 {
				continue
			}
			v := VersionInput{Name: name}
			for f := 0; f < 4; f++ {
				if rng.Intn(6) == 0 {
					v.LinkedBy = append(v.LinkedBy, fmt.Sprintf("fec%d", f))
				}
			}
			randTime := func() time.Time {
				switch rng.Intn(4) {
				case 0:
					return time.Time{}
				case 1:
					return now.Add(time.Duration(rng.Intn(10)) * time.Minute) // skew
				default:
					return now.Add(-time.Duration(rng.Int63n(int64(96 * time.Hour))))
				}
			}
			v.Published, v.Unlinked = randTime(), randTime()
			if rng.Intn(12) == 0 {
				v.Held = []string{"a broken link names it"}
			}
			sw.Versions = append(sw.Versions, v)
		}
		in.Software = append(in.Software, sw)
	}
	return in
}

func shuffled(rng *rand.Rand, in PlanInput) PlanInput {
	out := in
	out.Software = nil
	for _, sw := range in.Software {
		vs := make([]VersionInput, 0, len(sw.Versions))
		for _, v := range sw.Versions {
			v.LinkedBy = append([]string(nil), v.LinkedBy...)
			rng.Shuffle(len(v.LinkedBy), func(i, j int) { v.LinkedBy[i], v.LinkedBy[j] = v.LinkedBy[j], v.LinkedBy[i] })
			// Split a version's links over two duplicate entries now and then.
			if len(v.LinkedBy) > 1 && rng.Intn(2) == 0 {
				dup := VersionInput{Name: v.Name, LinkedBy: v.LinkedBy[:1]}
				v.LinkedBy = v.LinkedBy[1:]
				vs = append(vs, dup)
			}
			vs = append(vs, v)
		}
		rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		out.Software = append(out.Software, SoftwareInput{Name: sw.Name, Versions: vs})
	}
	rng.Shuffle(len(out.Software), func(i, j int) { out.Software[i], out.Software[j] = out.Software[j], out.Software[i] })
	return out
}

// apply removes the plan's removals from the input.
func apply(in PlanInput, p Plan) PlanInput {
	gone := map[string]bool{}
	for _, d := range p.Removals() {
		gone[d.Software+"/"+d.Version] = true
	}
	out := in
	out.Software = nil
	for _, sw := range in.Software {
		var vs []VersionInput
		for _, v := range sw.Versions {
			if !gone[sw.Name+"/"+v.Name] {
				vs = append(vs, v)
			}
		}
		out.Software = append(out.Software, SoftwareInput{Name: sw.Name, Versions: vs})
	}
	return out
}

func TestPlanProperties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(20261125))
	for iter := 0; iter < 3000; iter++ {
		in := randomInput(rng)
		p := NewPlan(in)
		pol := in.Policy.Effective()
		fail := func(format string, args ...any) {
			t.Helper()
			b, _ := json.Marshal(in)
			t.Fatalf("iteration %d: "+format+"\ninput: %s", append([]any{iter}, append(args, b)...)...)
		}

		linked := map[string]bool{}
		graced := map[string]bool{}
		present := map[string]bool{}
		for _, sw := range in.Software {
			for _, v := range sw.Versions {
				k := sw.Name + "/" + v.Name
				present[k] = true
				if len(v.LinkedBy) > 0 || len(v.Held) > 0 {
					linked[k] = true // held counts as linked for these properties
				}
				if inGrace(v.Published, now, pol.Grace) || inGrace(v.Unlinked, now, pol.Grace) {
					graced[k] = true
				}
			}
		}
		seen := map[string]bool{}
		for _, sp := range p.Software {
			unlinkedOld := 0
			for _, d := range sp.Versions {
				k := sp.Name + "/" + d.Version
				if seen[k] {
					fail("%s decided twice", k)
				}
				seen[k] = true
				_, perr := Parse(d.Version)
				if d.Action == Remove {
					switch {
					case linked[k]:
						fail("removes linked %s", k)
					case graced[k]:
						fail("removes %s inside the grace period", k)
					case perr != nil:
						fail("removes %s, which is not a version", k)
					case d.Version == Dev && !pol.PruneDev:
						fail("removes dev without PruneDev")
					}
				}
				v := MustParseOrZero(d.Version)
				if d.Action == Keep && v.IsProductive(pol) && !linked[k] && !graced[k] {
					unlinkedOld++
				}
			}
			if unlinkedOld > pol.Keep {
				fail("%s: keeps %d unlinked productive versions outside grace, more than %d", sp.Name, unlinkedOld, pol.Keep)
			}
		}
		if len(seen) != len(present) {
			fail("plan decides %d versions, input has %d", len(seen), len(present))
		}

		// Permutation invariance (including split duplicate entries).
		if q := NewPlan(shuffled(rng, in)); !reflect.DeepEqual(p, q) {
			fail("plan depends on input order:\n%s\n%s", summary(p), summary(q))
		}
		// Idempotence: after applying, nothing more is removed and every
		// remaining decision is unchanged.
		q := NewPlan(apply(in, p))
		if rm := q.Removals(); len(rm) > 0 {
			fail("second plan removes %+v", rm)
		}
		var kept []Decision
		for _, sp := range p.Software {
			for _, d := range sp.Versions {
				if d.Action == Keep {
					kept = append(kept, d)
				}
			}
		}
		var again []Decision
		for _, sp := range q.Software {
			again = append(again, sp.Versions...)
		}
		if !reflect.DeepEqual(kept, again) && !(len(kept) == 0 && len(again) == 0) {
			fail("decisions changed after applying:\n%s\n%s", summary(p), summary(q))
		}
	}
}

// MustParseOrZero is Parse without the error (zero Version for invalid names).
func MustParseOrZero(s string) Version {
	v, _ := Parse(s)
	return v
}

// The warning about "more than Keep productive" appears exactly when linked
// versions outside the newest Keep are kept.
func TestPlanWarningProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(7))
	for iter := 0; iter < 2000; iter++ {
		in := randomInput(rng)
		p := NewPlan(in)
		pol := p.Policy
		for _, sp := range p.Software {
			rank, extra := 0, false
			for _, d := range sp.Versions {
				if MustParseOrZero(d.Version).IsProductive(pol) {
					rank++
					if rank > pol.Keep && (d.Reason == ReasonLinked || d.Reason == ReasonHeld) {
						extra = true
					}
				}
			}
			warned := false
			for _, w := range p.Warnings {
				if w.Software == sp.Name && strings.Contains(w.Text, "because FECs still link older ones") {
					warned = true
				}
			}
			require.False(t, warned != extra, "iteration %d, %s: warned %v, linked beyond the newest %d: %v\n%s", iter, sp.Name, warned, pol.Keep, extra, summary(p))
		}
	}
}
