package storage

// Who uses a published version.

import (
	"context"
	"sort"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

// Use is one link that keeps a published software or configuration
// version alive.
type Use struct {
	FEC string `json:"fec"` // the folder under fecs/ the link is in ("global" among shared scripts)
	// Software is the software (or configuration) name asked about.
	Software string `json:"software"`
	// Version is "" when the link points at the <kind>/<name> folder or
	// above it (it uses every version).
	Version string `json:"version"`
	Link    string `json:"link"`   // base-relative path of the symlink
	Target  string `json:"target"` // base-relative resolved target
}

// Uses lists the links under fecs/ (fecs/global included: a FEC may reach
// them through its init links) that keep <kind>/<name>/<ver> alive, resolved
// by path: links into that version folder, and links to the <kind>/<name>
// folder or a folder above it, which use every version. ver "" asks about
// every version. Sorted by version (newest first), FEC and link: the table
// behind fecctl who-uses; RemoveVersion refuses while it is not empty.
func (s *Storage) Uses(ctx context.Context, kind index.Kind, name, ver string) ([]Use, error) {
	dir, err := pathFor(treePathSpec{kind, name})
	if err != nil {
		return nil, err
	}
	if ver != "" {
		if _, err := pathFor(versionPathSpec{kind, name, ver}); err != nil {
			return nil, err
		}
	}
	links, err := s.Links(ctx)
	if err != nil {
		return nil, err
	}
	var out []Use
	for _, l := range links {
		if l.Target == "" {
			continue
		}
		u := Use{FEC: l.FEC, Software: name, Link: l.Path, Target: l.Target}
		switch {
		case l.TargetKind == kind && l.Software == name:
			u.Version = l.Version
		case isWithin(dir, l.Target): // the link contains the whole folder
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
