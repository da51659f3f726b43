package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
)

// Freshness on the writer: every INDEX it signs carries serial= and
// expires= (docs/index-format.md). The serial of one write is
// index.NextSerial over the clock, the state file (SerialFileName in the
// state directory, outside the served tree) and the highest serial of any
// INDEX in the storage, so the writer never issues a lower serial: not
// after its clock went back, not after the storage was restored from a
// backup. The state file is written before any INDEX that carries the new
// serial.

// SerialFileName is the file in the state directory (WithStateDir) that
// holds the last serial issued, one decimal line.
const SerialFileName = "index-serial"

// WithStateDir sets the writer's state directory, outside the served tree
// (default: none; fecctl uses /var/lib/fecdeploy when it exists). It holds
// the last issued INDEX serial and the archive check cache.
func WithStateDir(dir string) Option { return func(s *Storage) { s.stateDir = dir } }

// WithIndexLifetime sets how long a signed INDEX stays valid (expires=);
// default index.DefaultLifetime. Reindex re-signs an INDEX that has less
// than half of it left.
func WithIndexLifetime(d time.Duration) Option { return func(s *Storage) { s.lifetime = d } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Storage) { s.clock = now } }

func (s *Storage) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

func (s *Storage) indexLifetime() time.Duration {
	if s.lifetime > 0 {
		return s.lifetime
	}
	return index.DefaultLifetime
}

// serialIssuer hands out the serial of one write (lazily: a reindex that
// writes nothing issues none) and records it in the state file first.
type serialIssuer struct {
	s      *Storage
	serial uint64
	err    error
	done   bool
}

func (si *serialIssuer) next() (uint64, error) {
	if si.done {
		return si.serial, si.err
	}
	si.done = true
	si.serial, si.err = si.s.issueSerial()
	return si.serial, si.err
}

// issueSerial computes and records the next serial. Called with the lock.
func (s *Storage) issueSerial() (uint64, error) {
	prev := []uint64{}
	if s.stateDir != "" {
		n, err := readSerialFile(filepath.Join(s.stateDir, SerialFileName))
		if err != nil {
			return 0, err
		}
		prev = append(prev, n)
	}
	hi, err := s.highestSerial()
	if err != nil {
		return 0, err
	}
	serial := index.NextSerial(s.now(), append(prev, hi)...)
	if s.stateDir != "" {
		if err := os.MkdirAll(s.stateDir, 0o755); err != nil {
			return 0, fmt.Errorf("storage: state directory: %w", err)
		}
		if err := durable.WriteFile(filepath.Join(s.stateDir, SerialFileName), []byte(strconv.FormatUint(serial, 10)+"\n"), 0o644); err != nil {
			return 0, fmt.Errorf("storage: recording the INDEX serial: %w", err)
		}
	}
	return serial, nil
}

func readSerialFile(p string) (uint64, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: reading the INDEX serial: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if err := index.CheckDecimal("serial", v); err != nil {
		return 0, fmt.Errorf("storage: %s: %v (fix or remove it; the writer then uses the clock and the storage's INDEX files)", p, err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("storage: %s: %w", p, err)
	}
	return n, nil
}

// highestSerial is the largest serial= in any FEC's INDEX header.
func (s *Storage) highestSerial() (uint64, error) {
	fecs, err := s.FECs(context.Background())
	if err != nil {
		return 0, err
	}
	var hi uint64
	for _, fec := range fecs {
		dir, err := s.absFor(fecPathSpec{fec})
		if err != nil {
			return 0, err
		}
		n, err := headerSerial(filepath.Join(dir, index.FileName))
		if err != nil {
			return 0, err
		}
		hi = max(hi, n)
	}
	return hi, nil
}

// headerSerial reads serial= from the first line of an INDEX (0 if none).
func headerSerial(p string) (uint64, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, _ := bufio.NewReaderSize(f, 4096).ReadSlice('\n')
	for _, kv := range bytes.Fields(line) {
		if v, ok := bytes.CutPrefix(kv, []byte(index.SerialKey+"=")); ok {
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err == nil {
				return n, nil
			}
		}
	}
	return 0, nil
}

// SerialState returns the serial the writer last recorded in its state
// file and the highest serial of the storage's INDEX files.
func (s *Storage) SerialState(ctx context.Context) (state, highest uint64, err error) {
	err = s.locked(ctx, func() error {
		if s.stateDir != "" {
			if state, err = readSerialFile(filepath.Join(s.stateDir, SerialFileName)); err != nil {
				return err
			}
		}
		highest, err = s.highestSerial()
		return err
	})
	return state, highest, err
}

// Resign re-signs the INDEX of the given FECs (or of all) with a new serial
// and a new expiry, whether or not their content changed: the routine job
// that keeps an idle FEC's INDEX from expiring (examples/systemd). It needs
// the signing key (ErrSigningKey).
func (s *Storage) Resign(ctx context.Context, fecs ...string) error {
	if s.signingKey() == nil {
		return fmt.Errorf("%w: resign: give the signing key (-sign-key FILE, $FECDEPLOY_SIGNING_KEY or /etc/fecdeploy/signing.key)", ErrSigningKey)
	}
	return s.locked(ctx, func() error {
		if len(fecs) == 0 {
			all, err := s.FECs(ctx)
			if err != nil {
				return err
			}
			fecs = all
		}
		return s.reindexWith(ctx, fecs, true)
	})
}
