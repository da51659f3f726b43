package storage

// The link log: one line per change of a FEC's software link, the unlink
// times the retention plan needs.
//
// Unlink times. The plan keeps a version that was unlinked less than the
// grace period ago, so a FEC that fetched the previous INDEX still finds its
// archives. Unlink times come from two sources:
//
//  1. The link log <base>/.fecdeploy-linklog: one line per link change,
//     "<unix-nanoseconds> <FEC> <software> <from-version|-> <to-version|->",
//     appended (and fsynced) under the storage lock before the link changes.
//     Link, Unlink, Switch, SwitchAll and Rollback write it. Prune drops lines older than
//     max(7 days, 2 × grace).
//  2. For link changes the log does not explain (made by other tools, by
//     hand, or before the log existed): a FEC's software/<name> symlink whose
//     mtime (the time it was switched: symlinks are replaced by rename) is
//     newer than the last logged change of that FEC and software, or whose
//     version is not the one that change went to. The
//     previous target is unknown then, so every unlinked version of that
//     software counts as unlinked at that time (coarse, but safe).
//
// A link removed by hand (rm) is not seen at all: use fecctl unlink.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// LinkLogName is the link log (see above) in the storage base.
const LinkLogName = ".fecdeploy-linklog"

// linkLogKeep is the minimum age of link log lines Prune drops.
const linkLogKeep = 7 * 24 * time.Hour

// linkLogSlack tolerates file-system timestamp granularity when matching a
// symlink's mtime with its log line (written just before the switch).
const linkLogSlack = 5 * time.Second

// linkChange is one line of the link log.
type linkChange struct {
	t                  time.Time
	fec, software      string
	fromVersion, toVer string // "" for none
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func (c linkChange) line() string {
	return fmt.Sprintf("%d %s %s %s %s\n", c.t.UnixNano(), c.fec, c.software, dash(c.fromVersion), dash(c.toVer))
}

// logLinkChanges appends to the link log and syncs it. Call with the lock held.
func (s *Storage) logLinkChanges(changes []linkChange) error {
	if len(changes) == 0 {
		return nil
	}
	f, err := os.OpenFile(s.abs(LinkLogName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("storage: opening the link log: %w", err)
	}
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.line())
	}
	_, err = f.WriteString(b.String())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: writing the link log %s: %w", s.abs(LinkLogName), err)
	}
	return nil
}

// readLinkLog reads the link log; a missing log is empty, malformed lines
// are skipped (the log only ever makes the plan keep more).
func (s *Storage) readLinkLog() ([]linkChange, error) {
	f, err := os.Open(s.abs(LinkLogName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("storage: reading the link log: %w", err)
	}
	defer f.Close()
	var out []linkChange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		ns, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, linkChange{t: time.Unix(0, ns), fec: fs[1], software: fs[2],
			fromVersion: undash(fs[3]), toVer: undash(fs[4])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("storage: reading the link log: %w", err)
	}
	return out, nil
}

// compactLinkLog drops lines older than keep before now. Call with the lock held.
func (s *Storage) compactLinkLog(now time.Time, keep time.Duration) error {
	log, err := s.readLinkLog()
	if err != nil || len(log) == 0 {
		return err
	}
	var b strings.Builder
	dropped := 0
	for _, c := range log {
		if now.Sub(c.t) > keep {
			dropped++
			continue
		}
		b.WriteString(c.line())
	}
	if dropped == 0 {
		return nil
	}
	return writeFileAtomic(s.base, LinkLogName, 0o644, []byte(b.String()))
}

// softwareLinkChange returns the function that records in the link log that
// fec's link to a software moved from the version it resolves to now to
// toVer ("" = unlinked), so that the retention plan gives the version left
// behind its grace period (a FEC that fetched the previous INDEX still
// downloads it). Call it after the change succeeded, so a refused change
// writes nothing. A crash in between is safe: the plan then sees a link the
// log does not explain and gives every unlinked version the grace period.
// Lock held.
func (s *Storage) softwareLinkChange(fec string, kind index.Kind, name, linkRel, toVer string) func() {
	if kind != index.KindSoftware {
		return func() {}
	}
	from := ""
	if st, err := os.Lstat(s.abs(linkRel)); err == nil && st.Mode()&os.ModeSymlink != 0 {
		if l := s.link(linkRel); l.TargetKind == index.KindSoftware && l.Software == name {
			from = l.Version
		}
	}
	return func() {
		if from == toVer {
			return
		}
		if err := s.logLinkChanges([]linkChange{{t: time.Now(), fec: fec, software: name, fromVersion: from, toVer: toVer}}); err != nil {
			s.logger().Warn("link changed, but the link log was not written; the retention plan falls back to the link's mtime",
				"fec", fec, "software", name, "err", err)
		}
	}
}
