package version

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Defaults of Policy.
const (
	DefaultKeep  = 3
	DefaultGrace = 24 * time.Hour
)

// NoGrace, as Policy.Grace, disables the grace period (any negative value does).
const NoGrace time.Duration = -1

// Policy says what the retention plan keeps. The zero Policy is the default
// policy: keep the 3 newest productive versions, a 24 h grace period,
// prereleases not productive, dev never removed.
type Policy struct {
	// Keep is how many of the newest productive versions of a software are
	// kept whether or not a FEC links them. 0 means DefaultKeep; values below
	// zero are treated as 0. Linked versions are kept in addition.
	Keep int `json:"keep"`
	// Grace keeps a version that was unlinked or published less than Grace
	// ago, so a FEC that fetched the previous INDEX still finds its archives
	// and a just-published version survives until it is linked. 0 means
	// DefaultGrace; negative (NoGrace) means no grace period.
	Grace time.Duration `json:"grace"`
	// IncludePrereleases counts prereleases (1.2.0-rc.1) as productive
	// versions, competing with releases for the Keep newest places.
	IncludePrereleases bool `json:"include_prereleases"`
	// PruneDev removes an unlinked dev release outside the grace period.
	// By default dev is never removed automatically: there is at most one per
	// software and it is usually about to be linked for a test.
	PruneDev bool `json:"prune_dev"`
}

// Effective returns p with the defaults filled in: Keep ≥ 1, Grace either
// positive or NoGrace. Effective(Effective(p)) == Effective(p), so a plan's
// policy can be used to plan again.
func (p Policy) Effective() Policy {
	if p.Keep <= 0 {
		p.Keep = DefaultKeep
	}
	switch {
	case p.Grace == 0:
		p.Grace = DefaultGrace
	case p.Grace < 0:
		p.Grace = NoGrace
	}
	return p
}

// PlanInput is everything the retention plan looks at. The caller gathers it
// from the storage (links resolved by path, never by string). Order does not
// matter and duplicates are merged: the plan is the same for any permutation.
type PlanInput struct {
	Now      time.Time
	Policy   Policy
	Software []SoftwareInput
}

// SoftwareInput lists the versions present for one software.
type SoftwareInput struct {
	Name     string
	Versions []VersionInput
}

// VersionInput is one version directory and what is known about its use.
type VersionInput struct {
	// Name is the directory name. Names that Parse refuses are kept and
	// reported, never removed.
	Name string
	// LinkedBy are the FECs with a link that resolves into this version.
	LinkedBy []string
	// Published is when the version appeared in the storage (zero: unknown).
	Published time.Time
	// Unlinked is the last time a FEC's link moved away from this version
	// (zero: never, or unknown).
	Unlinked time.Time
	// Held lists reasons the caller knows that forbid removing the version
	// (e.g. "a broken link names it", "it is a symlink"). A held version is
	// kept.
	Held []string
}

// Action is what the plan does with a version.
type Action int

// Actions.
const (
	Keep Action = iota
	Remove
)

var actionNames = [...]string{Keep: "keep", Remove: "remove"}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// MarshalText implements encoding.TextMarshaler ("keep", "remove").
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Reason is why a version is kept or removed. The String form is stable (it
// appears in fec-prune --json).
type Reason int

// Reasons, in the order they are considered for a version: the first that
// applies decides.
const (
	// ReasonLinked: at least one FEC links it. Always kept.
	ReasonLinked Reason = iota + 1
	// ReasonHeld: the caller holds it (VersionInput.Held). Kept.
	ReasonHeld
	// ReasonNotAVersion: the directory name is not a valid version. Kept
	// (and warned about): a person has to look at it.
	ReasonNotAVersion
	// ReasonNewest: among the Keep newest productive versions.
	ReasonNewest
	// ReasonDev: the dev release, not removed automatically.
	ReasonDev
	// ReasonPrereleaseAhead: a prerelease newer than the newest productive
	// version (a release candidate), among the Keep newest of those.
	ReasonPrereleaseAhead
	// ReasonRecentlyUnlinked: unlinked less than Grace ago.
	ReasonRecentlyUnlinked
	// ReasonRecentlyPublished: published less than Grace ago.
	ReasonRecentlyPublished
	// ReasonSuperseded: a productive version older than the Keep newest,
	// unlinked. Removed.
	ReasonSuperseded
	// ReasonPrereleaseSuperseded: a prerelease older than the newest
	// productive version, or beyond the Keep newest prereleases ahead of it,
	// unlinked. Removed.
	ReasonPrereleaseSuperseded
	// ReasonDevUnused: the dev release, unlinked, with Policy.PruneDev.
	// Removed.
	ReasonDevUnused
)

var reasonNames = [...]string{
	ReasonLinked:               "linked",
	ReasonHeld:                 "held",
	ReasonNotAVersion:          "not-a-version",
	ReasonNewest:               "newest",
	ReasonDev:                  "dev",
	ReasonPrereleaseAhead:      "prerelease-ahead",
	ReasonRecentlyUnlinked:     "recently-unlinked",
	ReasonRecentlyPublished:    "recently-published",
	ReasonSuperseded:           "superseded",
	ReasonPrereleaseSuperseded: "prerelease-superseded",
	ReasonDevUnused:            "dev-unused",
}

func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Decision is the plan for one version.
type Decision struct {
	Software  string    `json:"software"`
	Version   string    `json:"version"`
	Action    Action    `json:"action"`
	Reason    Reason    `json:"reason"`
	Text      string    `json:"text"` // human explanation, e.g. "linked by fec01, fec07"
	LinkedBy  []string  `json:"linked_by,omitempty"`
	Held      []string  `json:"held,omitempty"`
	Published time.Time `json:"published,omitzero"`
	Unlinked  time.Time `json:"unlinked,omitzero"`
}

// Warning is something an operator should look at; the plan is still safe.
type Warning struct {
	Software string `json:"software"`
	Text     string `json:"text"`
}

// SoftwarePlan is the plan for one software, versions newest first.
type SoftwarePlan struct {
	Name     string     `json:"name"`
	Versions []Decision `json:"versions"`
}

// Plan is the retention plan: a decision for every version, software sorted
// by name, versions newest first, and warnings.
type Plan struct {
	Now      time.Time      `json:"now"`
	Policy   Policy         `json:"policy"` // effective policy
	Software []SoftwarePlan `json:"software"`
	Warnings []Warning      `json:"warnings,omitempty"`
}

// Removals returns every decision to remove, in plan order.
func (p *Plan) Removals() []Decision {
	var out []Decision
	for _, sp := range p.Software {
		for _, d := range sp.Versions {
			if d.Action == Remove {
				out = append(out, d)
			}
		}
	}
	return out
}

// Counts returns how many versions are kept and removed.
func (p *Plan) Counts() (kept, removed int) {
	for _, sp := range p.Software {
		for _, d := range sp.Versions {
			if d.Action == Remove {
				removed++
			} else {
				kept++
			}
		}
	}
	return kept, removed
}

// WriteText writes the plan for people: one line per version, then the
// warnings and a summary. verbose=false omits kept versions.
func (p *Plan) WriteText(w io.Writer, verbose bool) error {
	var b strings.Builder
	for _, sp := range p.Software {
		for _, d := range sp.Versions {
			if d.Action == Keep && !verbose {
				continue
			}
			fmt.Fprintf(&b, "%-6s %s %s: %s\n", d.Action, sp.Name, d.Version, d.Text)
		}
	}
	for _, wn := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s: %s\n", wn.Software, wn.Text)
	}
	kept, removed := p.Counts()
	grace := "no grace period"
	if p.Policy.Grace > 0 {
		grace = "grace " + fmtDur(p.Policy.Grace)
	}
	fmt.Fprintf(&b, "%d software, %d versions kept, %d to remove (keep %d newest productive, %s)\n",
		len(p.Software), kept, removed, p.Policy.Keep, grace)
	_, err := io.WriteString(w, b.String())
	return err
}

// NewPlan computes the retention plan. It is a pure function of its input:
//
//   - A version linked by any FEC is kept, and so is one the caller holds
//     (VersionInput.Held).
//   - A directory whose name is not a valid version is kept, with a warning.
//   - The Keep newest productive versions are kept, linked or not. Older
//     productive versions are removed unless linked or inside the grace
//     period; so "at most Keep productive versions" holds for unlinked ones,
//     and linked older versions come on top (with a warning: switch those
//     FECs to let them go). A newer unlinked version is never given up for
//     an older linked one.
//   - Prereleases (unless Policy.IncludePrereleases) are kept when newer than
//     the newest productive version, up to Keep of them (release
//     candidates); older prereleases are removed.
//   - dev is kept unless Policy.PruneDev and it is unlinked and outside the
//     grace period.
//   - Anything else unlinked or published less than Grace before Now is kept
//     (a timestamp after Now, from clock skew, counts as inside).
//
// Applying the plan and planning again with the same Now removes nothing
// more (the Keep newest are never removed, so they stay the Keep newest), and
// the result does not depend on the order of the input.
func NewPlan(in PlanInput) Plan {
	pol := in.Policy.Effective()
	plan := Plan{Now: in.Now, Policy: pol}
	for _, sw := range mergeSoftware(in.Software) {
		sp, warns := planSoftware(sw, in.Now, pol)
		plan.Software = append(plan.Software, sp)
		plan.Warnings = append(plan.Warnings, warns...)
	}
	return plan
}

type entry struct {
	VersionInput
	v   Version
	err error
}

// mergeSoftware sorts software by name and merges duplicate software and
// versions (links united, latest timestamps), copying everything so the
// caller's slices are never modified.
func mergeSoftware(in []SoftwareInput) []SoftwareInput {
	byName := make(map[string]map[string]*VersionInput, len(in))
	var names []string
	for _, sw := range in {
		m := byName[sw.Name]
		if m == nil {
			m = make(map[string]*VersionInput, len(sw.Versions))
			byName[sw.Name] = m
			names = append(names, sw.Name)
		}
		for _, vi := range sw.Versions {
			cur := m[vi.Name]
			if cur == nil {
				cp := vi
				cp.LinkedBy = append([]string(nil), vi.LinkedBy...)
				cp.Held = append([]string(nil), vi.Held...)
				m[vi.Name] = &cp
				continue
			}
			cur.LinkedBy = append(cur.LinkedBy, vi.LinkedBy...)
			cur.Held = append(cur.Held, vi.Held...)
			if vi.Published.After(cur.Published) {
				cur.Published = vi.Published
			}
			if vi.Unlinked.After(cur.Unlinked) {
				cur.Unlinked = vi.Unlinked
			}
		}
	}
	sort.Strings(names)
	out := make([]SoftwareInput, 0, len(names))
	for _, n := range names {
		m := byName[n]
		vs := make([]VersionInput, 0, len(m))
		for _, vi := range m {
			vi.LinkedBy = sortedUnique(vi.LinkedBy)
			vi.Held = sortedUnique(vi.Held)
			vs = append(vs, *vi)
		}
		out = append(out, SoftwareInput{Name: n, Versions: vs})
	}
	return out
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	sort.Strings(s)
	j := 1
	for i := 1; i < len(s); i++ {
		if s[i] != s[j-1] {
			s[j] = s[i]
			j++
		}
	}
	return s[:j]
}

func planSoftware(sw SoftwareInput, now time.Time, pol Policy) (SoftwarePlan, []Warning) {
	es := make([]entry, len(sw.Versions))
	for i, vi := range sw.Versions {
		v, err := Parse(vi.Name)
		es[i] = entry{VersionInput: vi, v: v, err: err}
	}
	// Newest first; invalid names (zero Version) last, by name.
	sort.Slice(es, func(i, j int) bool {
		if c := es[i].v.Compare(es[j].v); c != 0 {
			return c > 0
		}
		return es[i].Name < es[j].Name
	})

	var newestProductive Version
	for _, e := range es {
		if e.err == nil && e.v.IsProductive(pol) {
			newestProductive = e.v
			break
		}
	}

	sp := SoftwarePlan{Name: sw.Name, Versions: make([]Decision, 0, len(es))}
	var warns []Warning
	var (
		nProductive   int      // productive versions seen so far (newest first)
		nAhead        int      // prereleases newer than newestProductive seen so far
		linkedOld     []string // productive versions kept only because linked
		keptProd      int
		invalidLinked []string
	)
	for _, e := range es {
		d := Decision{Software: sw.Name, Version: e.Name, LinkedBy: e.LinkedBy, Held: e.Held,
			Published: e.Published, Unlinked: e.Unlinked}
		productive := e.err == nil && e.v.IsProductive(pol)
		rank := 0
		if productive {
			nProductive++
			rank = nProductive
		}
		ahead := 0
		isPre := e.err == nil && !productive && !e.v.IsDev()
		if isPre && newestProductive.Compare(e.v) < 0 {
			nAhead++
			ahead = nAhead
		}
		grace := func() (Reason, string, bool) {
			if t := e.Unlinked; inGrace(t, now, pol.Grace) {
				return ReasonRecentlyUnlinked, "unlinked " + ago(now, t) + ", inside the " + fmtDur(pol.Grace) + " grace period", true
			}
			if t := e.Published; inGrace(t, now, pol.Grace) {
				return ReasonRecentlyPublished, "published " + ago(now, t) + ", inside the " + fmtDur(pol.Grace) + " grace period", true
			}
			return 0, "", false
		}
		switch {
		case len(e.LinkedBy) > 0:
			d.Action, d.Reason, d.Text = Keep, ReasonLinked, "linked by "+fecList(e.LinkedBy)
			if productive && rank > pol.Keep {
				linkedOld = append(linkedOld, e.Name)
			}
			if e.err != nil {
				invalidLinked = append(invalidLinked, e.Name)
			}
		case len(e.Held) > 0:
			d.Action, d.Reason, d.Text = Keep, ReasonHeld, "held: "+strings.Join(e.Held, "; ")
			if productive && rank > pol.Keep {
				linkedOld = append(linkedOld, e.Name+" (held)")
			}
		case e.err != nil:
			d.Action, d.Reason = Keep, ReasonNotAVersion
			d.Text = "not a valid version name, never removed automatically (" + reasonOf(e.err) + ")"
			warns = append(warns, Warning{Software: sw.Name, Text: fmt.Sprintf(
				"directory %q is not a valid version (%s); fec-prune leaves it alone: rename or remove it by hand",
				e.Name, reasonOf(e.err))})
		case productive && rank <= pol.Keep:
			d.Action, d.Reason = Keep, ReasonNewest
			d.Text = fmt.Sprintf("%s newest productive version (keeping %d)", ordinal(rank), pol.Keep)
		case e.v.IsDev() && !pol.PruneDev:
			d.Action, d.Reason, d.Text = Keep, ReasonDev, "dev release: never removed automatically (see fec-prune -prune-dev)"
		case ahead > 0 && ahead <= pol.Keep:
			d.Action, d.Reason = Keep, ReasonPrereleaseAhead
			if newestProductive.IsValid() {
				d.Text = fmt.Sprintf("prerelease newer than the newest productive version %s (%s of at most %d kept)",
					newestProductive, ordinal(ahead), pol.Keep)
			} else {
				d.Text = fmt.Sprintf("prerelease, no productive version yet (%s of at most %d kept)", ordinal(ahead), pol.Keep)
			}
		default:
			if r, txt, ok := grace(); ok {
				d.Action, d.Reason, d.Text = Keep, r, txt
				break
			}
			d.Action = Remove
			switch {
			case e.v.IsDev():
				d.Reason, d.Text = ReasonDevUnused, "dev release, not linked (fec-prune -prune-dev)"
			case productive:
				d.Reason = ReasonSuperseded
				d.Text = fmt.Sprintf("%s newest productive version, not linked (keeping %d)", ordinal(rank), pol.Keep)
			case ahead > 0:
				d.Reason = ReasonPrereleaseSuperseded
				d.Text = fmt.Sprintf("%s newest prerelease ahead of %s, not linked (keeping %d)",
					ordinal(ahead), orNone(newestProductive), pol.Keep)
			default:
				d.Reason = ReasonPrereleaseSuperseded
				d.Text = fmt.Sprintf("prerelease older than the newest productive version %s, not linked", newestProductive)
			}
		}
		if d.Action == Keep && productive {
			keptProd++
		}
		sp.Versions = append(sp.Versions, d)
	}
	if len(linkedOld) > 0 {
		warns = append(warns, Warning{Software: sw.Name, Text: fmt.Sprintf(
			"%d productive versions kept, more than %d, because FECs still link older ones: %s; switch those FECs "+
				"to a newer version (fecctl who-uses %s VERSION) to let them go",
			keptProd, pol.Keep, strings.Join(linkedOld, ", "), sw.Name)})
	}
	if len(invalidLinked) > 0 {
		warns = append(warns, Warning{Software: sw.Name, Text: fmt.Sprintf(
			"FECs link directories that are not valid versions: %s", strings.Join(invalidLinked, ", "))})
	}
	return sp, warns
}

func inGrace(t, now time.Time, grace time.Duration) bool {
	if t.IsZero() || grace <= 0 {
		return false
	}
	return now.Sub(t) < grace // also true for t after now (clock skew)
}

func reasonOf(err error) string {
	if pe, ok := err.(*ParseError); ok {
		if pe.Suggest != "" {
			return pe.Reason + " → " + pe.Suggest
		}
		return pe.Reason
	}
	return err.Error()
}

func orNone(v Version) string {
	if v.IsValid() {
		return v.String()
	}
	return "(no productive version)"
}

const maxFECsInText = 5

func fecList(fecs []string) string {
	if len(fecs) <= maxFECsInText {
		return strings.Join(fecs, ", ")
	}
	return fmt.Sprintf("%s and %d more FECs", strings.Join(fecs[:maxFECsInText], ", "), len(fecs)-maxFECsInText)
}

func ordinal(n int) string {
	suf := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suf = "st"
		case 2:
			suf = "nd"
		case 3:
			suf = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suf)
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return fmtDur(-d) + " in the future (clock skew?)"
	}
	return fmtDur(d) + " ago"
}

// fmtDur prints a duration the way people write it: 2h, 2h5m, 45s.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	case d >= time.Minute:
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
