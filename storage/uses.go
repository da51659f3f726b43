package storage

// Who uses a published version.

import (
	"sort"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

// Use is one FEC's use of a software version.
type Use struct {
	FEC      string `json:"fec"`
	Software string `json:"software"`
	// Version is "" when the link points at the software folder itself
	// (it uses every version).
	Version string `json:"version"`
	Link    string `json:"link"`   // base-relative path of the symlink
	Target  string `json:"target"` // base-relative resolved target
}

// Uses lists the links under fecs/ that resolve into software/<software>
// (or into its version ver, when ver is not ""), resolved by path, sorted by
// version (newest first) and FEC: the table behind fecctl who-uses. A link
// to the software folder itself uses every version and is always listed.
// (WhoUses answers the same for one version of any kind, as Links.)
func (s *Storage) Uses(software, ver string) ([]Use, error) {
	if err := index.CheckName("software name", software); err != nil {
		return nil, err
	}
	if ver != "" {
		if err := index.CheckName("version", ver); err != nil {
			return nil, err
		}
	}
	links, err := s.Links()
	if err != nil {
		return nil, err
	}
	var out []Use
	for _, l := range links {
		if l.Target == "" {
			continue
		}
		u := Use{FEC: l.FEC, Software: software, Link: l.Path, Target: l.Target}
		switch {
		case l.TargetKind == index.KindSoftware && l.Software == software:
			u.Version = l.Version
		case isWithin(SoftwareDir+"/"+software, l.Target):
		default:
			continue
		}
		if ver != "" && u.Version != "" && u.Version != ver {
			continue
		}
		out = append(out, u)
	}
	sort.SliceStable(out, func(i, j int) bool {
		vi, _ := version.Parse(out[i].Version)
		vj, _ := version.Parse(out[j].Version)
		if c := vi.Compare(vj); c != 0 {
			return c > 0
		}
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		if out[i].FEC != out[j].FEC {
			return out[i].FEC < out[j].FEC
		}
		return out[i].Link < out[j].Link
	})
	return out, nil
}

// WhoUses returns the links that keep <kind>/<name>/<version> alive (see
// Link.Uses), sorted by path. Links of fecs/global count: a FEC may reach
// them through its init links.
func (s *Storage) WhoUses(kind index.Kind, name, version string) ([]Link, error) {
	if _, err := pathFor(versionPathSpec{kind, name, version}); err != nil {
		return nil, err
	}
	links, err := s.Links()
	if err != nil {
		return nil, err
	}
	var out []Link
	for _, l := range links {
		if l.Uses(kind, name, version) {
			out = append(out, l)
		}
	}
	return out, nil
}
