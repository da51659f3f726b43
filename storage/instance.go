package storage

// FESA instance files follow their binary: a FEC that links the
// configuration <DU>-instance (index.InstanceOf) gets it at the version of
// the software <DU> it runs. Switch, SwitchAll and Rollback move that link
// with the software; Verify reports every mismatch.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// ErrNoInstance: the target version of a software has no instance
// configuration published, while the FEC links one (it is ErrNotFound too).
var ErrNoInstance = fmt.Errorf("%w: no instance configuration for that version", ErrNotFound)

// ProblemInstanceMismatch: a FEC gets an instance configuration at another
// version than its software, or without the software.
const ProblemInstanceMismatch ProblemKind = "instance-mismatch"

// SwitchOption changes how Switch, SwitchAll and Rollback treat the
// software's instance configuration.
type SwitchOption func(*switchOptions)

type switchOptions struct {
	keepInstance bool
}

// KeepInstance leaves the FEC's <DU>-instance link where it is, even at
// another version than the software (Verify and fec-boot then warn).
func KeepInstance() SwitchOption { return func(o *switchOptions) { o.keepInstance = true } }

func switchOpts(opts []SwitchOption) switchOptions {
	var o switchOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// pendingLink is a prepared change of one link (nothing changed yet).
type pendingLink struct {
	fec, link, target string // link and target base-relative
	name, from, to    string
}

// prepareInstanceSwitch prepares moving FEC fec's <software>-instance link
// to version ver along with the software. It returns nil when the FEC links
// no instance configuration of software, or when keep is set, or when the
// link already points at the archive ver would pick. When ver has no
// instance configuration the FEC can take, it refuses (ErrNoInstance,
// naming both) - unless keep.
func (s *Storage) prepareInstanceSwitch(ctx context.Context, fec, software, ver string, keep bool) (*pendingLink, error) {
	inst := index.InstanceOf(software)
	rel, err := pathFor(fecEntryPathSpec{fec, index.KindConfiguration, inst})
	if err != nil {
		return nil, err
	}
	st, err := os.Lstat(s.abs(rel))
	if err != nil {
		return nil, nil // the FEC links no instance configuration of this software
	}
	if st.Mode()&os.ModeSymlink == 0 {
		if keep {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: FEC %s has its own %s (a %s, not a link to a published version); "+
			"switching software %s to %s would leave it behind: replace it by a link (fecctl link -kind configuration) or keep it (-keep-instance)",
			ErrBadRequest, fec, rel, describeMode(st.Mode()), software, ver)
	}
	cur := s.link(rel)
	if keep {
		return nil, nil
	}
	c, err := s.readFECConf(fec)
	if err != nil {
		return nil, err
	}
	target, err := s.pickArchive(fec, c, index.KindConfiguration, inst, ver)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			have, _ := s.Versions(ctx, index.KindConfiguration, inst)
			return nil, fmt.Errorf("%w: FEC %s links software %s and its instance configuration %s (at %s); "+
				"%s %s has no %s %s to go with it (published: %s). Publish it (yocto-fesa3-deploy -i), or keep the instance at %s (-keep-instance)",
				ErrNoInstance, fec, software, inst, orNone(cur.Version), software, ver, inst, ver, orNone(strings.Join(have, ", ")), orNone(cur.Version))
		}
		return nil, fmt.Errorf("storage: FEC %s: the instance configuration %s %s to go with software %s %s: %w", fec, inst, ver, software, ver, err)
	}
	if cur.Raw == relTarget(rel, target) {
		return nil, nil
	}
	return &pendingLink{fec: fec, link: rel, target: target, name: inst, from: cur.Version, to: ver}, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// applyInstanceSwitches moves the prepared instance links. Lock held.
func (s *Storage) applyInstanceSwitches(todo []*pendingLink) error {
	var errs []error
	for _, p := range todo {
		if p == nil {
			continue
		}
		if err := s.setLink(p.link, p.target); err != nil {
			errs = append(errs, fmt.Errorf("storage: switching %s to %s: %w", p.link, p.target, err))
			continue
		}
		s.logger().Info("switched instance configuration", "fec", p.fec, "configuration", p.name, "from", p.from, "to", p.to)
	}
	return errors.Join(errs...)
}

// instanceProblems reports the instance configurations of a FEC's current
// links that do not follow their software.
func instanceProblems(fec string, entries []index.Entry) []Problem {
	var out []Problem
	for _, m := range index.InstanceMismatches(entries) {
		rel, _ := pathFor(fecEntryPathSpec{fec, index.KindConfiguration, m.Instance})
		fix := fmt.Sprintf("fecctl switch %s %s %s (moves the instance with the software), or link %s %s", fec, m.Software, m.InstanceVersion, m.Instance, m.SoftwareVersion)
		if m.SoftwareVersion == "" {
			fix = fmt.Sprintf("link software %s %s, or unlink -kind configuration %s", m.Software, m.InstanceVersion, m.Instance)
		}
		out = append(out, Problem{Kind: ProblemInstanceMismatch, Path: rel, FEC: fec, Message: m.String(), Fix: fix})
	}
	return out
}
