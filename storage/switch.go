package storage

// Switching a FEC's software link to another version, and rolling it back.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

// ErrNoRollback: Rollback found no older productive version to go back to.
var ErrNoRollback = errors.New("storage: no version to roll back to")

// SwitchResult describes one link switch.
type SwitchResult struct {
	FEC      string `json:"fec"`
	Software string `json:"software"`
	From     string `json:"from"` // the version linked before ("" when the link was broken)
	To       string `json:"to"`
	Target   string `json:"target"`  // the archive the link points to now (base-relative)
	Changed  bool   `json:"changed"` // false when the link already pointed there
	// Instance is the move of the FEC's <software>-instance configuration
	// with the software (nil when it links none, or it stayed).
	Instance *InstanceSwitch `json:"instance,omitempty"`
}

// InstanceSwitch is the instance configuration moved along with a switch.
type InstanceSwitch struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Switch points FEC fec's link for software at version ver (the archive
// that fits the FEC, as Link picks it), atomically, logs the change for the
// retention grace period and regenerates the FEC's INDEX. The FEC must
// already link the software (ErrNotFound otherwise; use Link to add it); ver
// must be a valid version (version.ErrInvalid) that is published for the
// FEC's architecture (ErrNotFound naming the published versions,
// ErrArchMismatch, ErrNoDecoder). Nothing changes on error.
func (s *Storage) Switch(ctx context.Context, fec, software, ver string, opts ...SwitchOption) (SwitchResult, error) {
	if _, err := version.Parse(ver); err != nil {
		return SwitchResult{}, err
	}
	o := switchOpts(opts)
	var res SwitchResult
	err := s.locked(ctx, func() error {
		p, err := s.prepareSwitch(ctx, fec, software, ver, o)
		if err != nil {
			return err
		}
		res = p.result
		if !p.changes() {
			// The links are right; an INDEX left stale (a writer killed
			// between the two) is rewritten - signed, or refused without
			// the key, before anything else.
			return s.reindexLocked(ctx, []string{fec})
		}
		if err := s.requireKeyFor(fmt.Sprintf("switching %s on %s to %s", software, fec, ver), fec); err != nil {
			return err
		}
		if err := s.applySwitches(ctx, []pendingSwitch{p}); err != nil {
			return err
		}
		defer s.syncMonitor(ctx, fec, index.KindSoftware, software)
		return s.reindexLocked(ctx, []string{fec})
	})
	if err != nil {
		return SwitchResult{}, err
	}
	return res, nil
}

// SwitchAll switches every FEC that links software to version ver under one
// lock, then regenerates their indexes once. Every FEC is checked first
// (architecture, decoders); if one cannot take ver, nothing changes and the
// error names it. ErrNotFound when no FEC links the software.
func (s *Storage) SwitchAll(ctx context.Context, software, ver string, opts ...SwitchOption) ([]SwitchResult, error) {
	if _, err := version.Parse(ver); err != nil {
		return nil, err
	}
	if err := index.CheckName("software name", software); err != nil {
		return nil, err
	}
	var out []SwitchResult
	err := s.locked(ctx, func() error {
		fecs, err := s.fecsLinking(ctx, software)
		if err != nil {
			return err
		}
		if len(fecs) == 0 {
			return fmt.Errorf("%w: no FEC links software %s; link it first (fecctl link)", ErrNotFound, software)
		}
		o := switchOpts(opts)
		var todo []pendingSwitch
		var same []string
		for _, fec := range fecs {
			p, err := s.prepareSwitch(ctx, fec, software, ver, o)
			if err != nil {
				return fmt.Errorf("storage: switching %s to %s on every FEC: nothing changed: %w", software, ver, err)
			}
			out = append(out, p.result)
			if p.changes() {
				todo = append(todo, p)
			} else {
				same = append(same, fec)
			}
		}
		changed := make([]string, 0, len(todo))
		for _, p := range todo {
			changed = append(changed, p.result.FEC)
		}
		if err := s.requireKeyFor(fmt.Sprintf("switching %s to %s on every FEC", software, ver), changed...); err != nil {
			return err
		}
		// Links already right: rewrite an INDEX left stale. A FEC whose
		// signed INDEX is stale refuses without the key, before any link moves.
		if err := s.reindexLocked(ctx, same); err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil
		}
		applyErr := s.applySwitches(ctx, todo)
		defer s.syncMonitors(ctx, todo)
		// Reindex even after a partial failure, so INDEX files match links.
		return errors.Join(applyErr, s.reindexLocked(ctx, changed))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Rollback switches FEC fec's link for software back to the newest
// productive version (not dev, not a prerelease) older than the one it
// links now that is still published for the FEC's architecture; from dev or
// a prerelease that is the newest productive version older than it.
// ErrNoRollback (naming the versions present) when there is none.
func (s *Storage) Rollback(ctx context.Context, fec, software string, opts ...SwitchOption) (SwitchResult, error) {
	o := switchOpts(opts)
	var res SwitchResult
	err := s.locked(ctx, func() error {
		cur, err := s.currentLink(fec, software)
		if err != nil {
			return err
		}
		if cur.Version == "" {
			return fmt.Errorf("%w: %s's link %s is broken (%s); switch it to a version explicitly", ErrBrokenLink, fec, cur.Path, cur.Problem)
		}
		curV, err := version.Parse(cur.Version)
		if err != nil {
			return fmt.Errorf("storage: %s links %s %s, which is not a valid version; switch explicitly: %w", fec, software, cur.Version, err)
		}
		names, err := s.Versions(ctx, index.KindSoftware, software)
		if err != nil {
			return err
		}
		c, err := s.readFECConf(fec)
		if err != nil {
			return err
		}
		var cands []version.Version
		for _, n := range names {
			v, err := version.Parse(n)
			if err != nil || !v.IsProductive(version.Policy{}) || v.Compare(curV) >= 0 {
				continue
			}
			if _, err := s.pickArchive(fec, c, index.KindSoftware, software, n); err != nil {
				continue
			}
			cands = append(cands, v)
		}
		if len(cands) == 0 {
			return fmt.Errorf("%w: FEC %s runs %s %s and no older productive version of it is published for %s (present: %s); "+
				"switch to another version explicitly", ErrNoRollback, fec, software, cur.Version, c.Arch, strings.Join(names, ", "))
		}
		version.Sort(cands)
		p, err := s.prepareSwitch(ctx, fec, software, cands[len(cands)-1].String(), o)
		if err != nil {
			return err
		}
		res = p.result
		if err := s.requireKeyFor(fmt.Sprintf("rolling %s on %s back to %s", software, fec, p.result.To), fec); err != nil {
			return err
		}
		if err := s.applySwitches(ctx, []pendingSwitch{p}); err != nil {
			return err
		}
		defer s.syncMonitor(ctx, fec, index.KindSoftware, software)
		return s.reindexLocked(ctx, []string{fec})
	})
	if err != nil {
		return SwitchResult{}, err
	}
	return res, nil
}

// fecsLinking lists the FECs (with a fec.conf) whose software/<software>
// entry is a symlink, sorted.
func (s *Storage) fecsLinking(ctx context.Context, software string) ([]string, error) {
	fecs, err := s.FECs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fecs {
		rel, err := pathFor(fecEntryPathSpec{f, index.KindSoftware, software})
		if err != nil {
			return nil, err
		}
		if st, err := os.Lstat(s.abs(rel)); err == nil && st.Mode()&os.ModeSymlink != 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

// currentLink describes fecs/<fec>/software/<software>; ErrUnknownFEC,
// ErrNotFound when the FEC has no such link.
func (s *Storage) currentLink(fec, software string) (Link, error) {
	if _, err := s.readFECConf(fec); err != nil {
		return Link{}, err
	}
	rel, err := pathFor(fecEntryPathSpec{fec, index.KindSoftware, software})
	if err != nil {
		return Link{}, err
	}
	st, err := os.Lstat(s.abs(rel))
	if err != nil {
		return Link{}, fmt.Errorf("%w: FEC %s does not link software %s (%s is missing); add it with Link (fecctl link)",
			ErrNotFound, fec, software, rel)
	}
	if st.Mode()&os.ModeSymlink == 0 {
		return Link{}, fmt.Errorf("%w: %s is a %s, not a symlink; fix it by hand", ErrBadRequest, rel, describeMode(st.Mode()))
	}
	l := s.link(rel)
	if l.Target != "" && (l.TargetKind != index.KindSoftware || l.Software != software) {
		l.Version = ""
	}
	return l, nil
}

type pendingSwitch struct {
	link, target string // base-relative
	result       SwitchResult
	instance     *pendingLink // the <software>-instance link moving with it, if any
}

// changes reports whether applying p changes any link.
func (p pendingSwitch) changes() bool { return p.result.Changed || p.instance != nil }

// prepareSwitch checks everything a switch needs without changing anything.
func (s *Storage) prepareSwitch(ctx context.Context, fec, software, ver string, o switchOptions) (pendingSwitch, error) {
	cur, err := s.currentLink(fec, software)
	if err != nil {
		return pendingSwitch{}, err
	}
	c, err := s.readFECConf(fec)
	if err != nil {
		return pendingSwitch{}, err
	}
	target, err := s.pickArchive(fec, c, index.KindSoftware, software, ver)
	if err != nil {
		return pendingSwitch{}, err
	}
	res := SwitchResult{FEC: fec, Software: software, From: cur.Version, To: ver, Target: target}
	res.Changed = cur.Raw != relTarget(cur.Path, target)
	inst, err := s.prepareInstanceSwitch(ctx, fec, software, ver, o.keepInstance)
	if err != nil {
		return pendingSwitch{}, err
	}
	if inst != nil {
		res.Instance = &InstanceSwitch{Name: inst.name, From: inst.from, To: inst.to}
	}
	return pendingSwitch{link: cur.Path, target: target, result: res, instance: inst}, nil
}

// applySwitches logs the changes, then switches the links. Lock held.
func (s *Storage) applySwitches(ctx context.Context, todo []pendingSwitch) error {
	for _, p := range todo {
		if !p.result.Changed {
			continue
		}
		if err := s.checkLinkTarget(ctx, p.target); err != nil {
			return fmt.Errorf("storage: not switching %s to %s: %w (nothing was switched)", p.link, p.result.To, err)
		}
	}
	now := time.Now()
	changes := make([]linkChange, 0, len(todo))
	for _, p := range todo {
		if !p.result.Changed {
			continue // only its instance moves
		}
		changes = append(changes, linkChange{t: now, fec: p.result.FEC, software: p.result.Software,
			fromVersion: p.result.From, toVer: p.result.To})
	}
	if err := s.logLinkChanges(changes); err != nil {
		return err
	}
	var errs []error
	for _, p := range todo {
		if err := s.applyInstanceSwitches([]*pendingLink{p.instance}); err != nil {
			errs = append(errs, err)
			continue
		}
		if !p.result.Changed {
			continue
		}
		if err := s.setLink(p.link, p.target); err != nil {
			errs = append(errs, fmt.Errorf("storage: switching %s to %s: %w", p.link, p.target, err))
			continue
		}
		s.logger().Info("switched", "fec", p.result.FEC, "software", p.result.Software, "from", p.result.From,
			"to", p.result.To, "target", p.target)
	}
	return errors.Join(errs...)
}
