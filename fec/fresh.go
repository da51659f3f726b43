package fec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// Freshness of a signed INDEX (docs/security.md): the highest serial this
// FEC accepted is kept in <state>/accepted-serial (the shell client's file
// too); a lower one is a replay, an expired INDEX a freeze. Both are refused
// before anything is installed, and the file is only rewritten with a
// higher serial.

// AcceptedSerialFile is the file in the state directory holding the highest
// INDEX serial this FEC accepted, one decimal line.
const AcceptedSerialFile = "accepted-serial"

func (s *session) acceptedSerialPath() string {
	return filepath.Join(s.cfg.StateDir, AcceptedSerialFile)
}

// readAcceptedSerial returns the stored serial (0 = none).
func (s *session) readAcceptedSerial() (uint64, error) {
	b, err := os.ReadFile(s.acceptedSerialPath())
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: reading %s: %v", ErrInstall, s.acceptedSerialPath(), err)
	}
	v := strings.TrimSpace(string(b))
	n, perr := strconv.ParseUint(v, 10, 64)
	if index.CheckDecimal("serial", v) != nil || perr != nil || n == 0 {
		return 0, fmt.Errorf("%w: the state file %s is damaged (%q): restore it, or remove it deliberately (docs/security.md, serial reset)",
			ErrInstall, s.acceptedSerialPath(), v)
	}
	return n, nil
}

// checkFresh applies index.CheckFresh to a verified INDEX and records its
// serial when it is higher than the stored one (not in a dry run). u is
// the INDEX URL for the message. ring is the keyring of this boot (nil
// without root keys): a serial reset it carries that this FEC has not
// applied yet lowers the floor (index.ApplyReset); the INDEX serial is then
// recorded even when lower than the stored one, and the keyring state
// after it (a crash between the two writes only applies the reset again).
func (s *session) checkFresh(ix *index.Index, u string, ring *keyringResult) error {
	acc, err := s.readAcceptedSerial()
	if err != nil {
		return err
	}
	floor, reset := acc, false
	if ring != nil {
		floor, reset = index.ApplyReset(acc, ring.state.reset, ring.ring)
	}
	now := time.Now()
	if s.cfg.Now != nil {
		now = s.cfg.Now()
	}
	sane := index.ClockSane(now)
	if !sane {
		s.cfg.Logger.Warn("the clock is before this client's date: INDEX expiry not checked, only its serial",
			"clock", now.UTC().Format(time.RFC3339), "client_date", index.ClientEpoch.Format(time.RFC3339))
	}
	if err := index.CheckFresh(ix, floor, now, sane); err != nil {
		return fmt.Errorf("%w: INDEX of FEC %q from %s refused: %w", ErrVerify, s.cfg.FEC, u, err)
	}
	if s.cfg.DryRun {
		return nil
	}
	if reset && floor < acc {
		s.cfg.Logger.Warn("serial reset by the keyring: accepting an INDEX serial below the one accepted before",
			"accepted", acc, "reset", ring.ring.Reset, "serial", ix.Serial)
	}
	if ix.Serial > acc || (reset && ix.Serial < acc) {
		if err := writeFileAtomic(s.acceptedSerialPath(), []byte(strconv.FormatUint(ix.Serial, 10)+"\n"), 0o644); err != nil {
			return fmt.Errorf("%w: cannot record the INDEX serial %d in %s (disk full?): %v", ErrInstall, ix.Serial, s.acceptedSerialPath(), err)
		}
	}
	if ring != nil {
		return s.commitKeyring(ring, reset)
	}
	return nil
}
