package fec

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// Following the keyring (docs/security.md, "Keys"): with Config.RootKeys
// the FEC trusts no INDEX key directly. It fetches keys/rotations and walks
// the root rotations above the keyring serial it accepted, then verifies
// keys/keyring with the roots it trusts; the INDEX must be signed by a key
// the keyring lists. What the FEC accepted is recorded in one file,
// KeyringStateFile, written atomically only after the INDEX was accepted
// too: the keyring serial, the serial reset applied last, and the root
// keys to trust from now on. One file, because a serial without its roots
// (or roots without their serial) would make the next walk start from the
// wrong place and refuse every keyring.

// KeyringStateFile is the keyring state in the state directory (the shell
// client's too):
//
//	serial=<keyring serial accepted>
//	reset=<serial reset applied last, 0 = none>
//	-----BEGIN PUBLIC KEY-----   the root keys to trust (PEM blocks)
const KeyringStateFile = "keyring-state"

// keyringState is what KeyringStateFile holds.
type keyringState struct {
	serial, reset uint64
	roots         []ed25519.PublicKey
}

func (s *session) keyringStatePath() string { return filepath.Join(s.cfg.StateDir, KeyringStateFile) }

// readKeyringState returns the stored state, or the pinned roots and
// zeros when there is none.
func (s *session) readKeyringState() (keyringState, error) {
	st := keyringState{roots: s.cfg.RootKeys}
	b, err := os.ReadFile(s.keyringStatePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	damaged := func(why string) error {
		return fmt.Errorf("%w: the state file %s is damaged (%s): restore it, or remove it deliberately to trust only the pinned root keys again (docs/security.md)",
			ErrInstall, s.keyringStatePath(), why)
	}
	if err != nil {
		return st, fmt.Errorf("%w: reading %s: %v", ErrInstall, s.keyringStatePath(), err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 3 {
		return st, damaged("too short")
	}
	for i, key := range []string{"serial", "reset"} {
		v, ok := strings.CutPrefix(lines[i], key+"=")
		n, perr := strconv.ParseUint(v, 10, 64)
		if !ok || perr != nil || index.CheckDecimal(key, v) != nil {
			return st, damaged(fmt.Sprintf("line %d: want %s=<number>", i+1, key))
		}
		if i == 0 {
			st.serial = n
		} else {
			st.reset = n
		}
	}
	roots, err := index.ParsePublicKeys([]byte(lines[2]))
	if err != nil {
		return st, damaged(err.Error())
	}
	st.roots = roots
	return st, nil
}

// errKeyringFetch marks a keyring fetch that failed for a reason other
// than the storage's answer (network, 5xx): the storage is unreachable.
var errKeyringFetch = errors.New("no answer")

// keyringResult is the keyring a boot verified, and how to record it.
type keyringResult struct {
	ring  *index.Keyring
	state keyringState // as stored before this boot
	next  []ed25519.PublicKey
}

// keyringRotations fetches and parses keys/rotations (none on a 404).
func (s *session) keyringRotations(get func(string, int64) ([]byte, error)) ([]uint64, []byte, error) {
	rb, err := get(index.KeyringDir+"/"+index.KeyringRotationsFile, index.KeyringMaxSize)
	var he *HTTPError
	switch {
	case err == nil:
		rotations, err := index.ParseRotations(rb)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: keyring refused: %w", ErrVerify, err)
		}
		return rotations, rb, nil
	case errors.As(err, &he) && he.StatusCode == 404:
		return nil, nil, nil
	case errors.Is(err, errTooLarge):
		return nil, nil, fmt.Errorf("%w: keyring refused: %s is larger than %d bytes", ErrVerify, index.KeyringRotationsFile, index.KeyringMaxSize)
	case errors.Is(err, errHTTPRedirect):
		return nil, nil, fmt.Errorf("%w: fetching the keyring rotations: %w", ErrVerify, err)
	}
	return nil, nil, fmt.Errorf("%w: fetching the keyring rotations: %v", ErrUnreachable, err)
}

// keyring walks and verifies the keyring; it records nothing.
func (s *session) keyring(ctx context.Context) (*keyringResult, error) {
	cfg := s.cfg
	st, err := s.readKeyringState()
	if err != nil {
		return nil, err
	}
	get := func(p string, limit int64) ([]byte, error) {
		return s.f.getSmall(ctx, s.base.JoinPath(p), limit)
	}
	now := time.Now()
	if cfg.Now != nil {
		now = cfg.Now()
	}
	// A keyring change replaces keys/keyring and keys/keyring.sig (and on a
	// root rotation keys/rotations) one after the other: a FEC that fetched
	// between the renames holds files that do not fit together. As for the
	// INDEX, a refused keyring is fetched again, with backoff, until the
	// deadline; only the same bytes refused for pairSettle are final.
	var prev [sha256.Size]byte
	var settled time.Time
	var he *HTTPError
	for attempt := 0; ; attempt++ {
		rotations, rb, err := s.keyringRotations(get)
		if err != nil {
			return nil, err
		}
		seen := sha256.New()
		seen.Write(rb)
		fetch := func(p string) ([]byte, []byte, error) {
			data, err := get(p, index.KeyringMaxSize)
			if err == nil {
				var sig []byte
				if sig, err = get(p+".sig", 1024); err == nil {
					seen.Write(data)
					seen.Write(sig)
					return data, sig, nil
				}
			}
			if errors.As(err, &he) && (he.StatusCode == 404 || he.StatusCode == 403) || errors.Is(err, errTooLarge) || errors.Is(err, errHTTPRedirect) {
				return nil, nil, err // the storage's answer: refused below
			}
			return nil, nil, fmt.Errorf("%w: %w", errKeyringFetch, err)
		}
		k, next, err := index.WalkKeyrings(st.roots, st.serial, rotations, now, index.ClockSane(now), fetch)
		switch {
		case err == nil:
			return &keyringResult{ring: k, state: st, next: next}, nil
		case errors.Is(err, errKeyringFetch):
			return nil, fmt.Errorf("%w: fetching the keyring: %w", ErrUnreachable, err)
		}
		var sum [sha256.Size]byte
		copy(sum[:], seen.Sum(nil))
		if attempt == 0 || sum != prev {
			settled = time.Now() // new files: the writer may be under way
		}
		prev = sum
		if time.Since(settled) >= pairSettle(cfg) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: keyring refused: %w", ErrVerify, err)
		}
		if attempt == 0 {
			cfg.Logger.Warn("keyring refused; fetching it again (a keyring change may be under way)", "error", err.Error())
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff(0)(cfg.RetryWaitMin, min(cfg.RetryWaitMax, time.Second), attempt, nil)):
		}
	}
}

// commit records the keyring state after the INDEX was accepted; reset
// says whether the keyring's serial reset was applied.
func (s *session) commitKeyring(r *keyringResult, reset bool) error {
	if s.cfg.DryRun {
		return nil
	}
	applied := r.state.reset
	if reset {
		applied = r.ring.Reset
	}
	if r.ring.Serial == r.state.serial && applied == r.state.reset {
		return nil // nothing new
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "serial=%d\nreset=%d\n", r.ring.Serial, applied)
	for _, k := range r.next {
		b.Write(index.PublicKeyPEM(k))
	}
	if err := writeFileAtomic(s.keyringStatePath(), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("%w: cannot record the keyring serial %d in %s (disk full?): %v", ErrInstall, r.ring.Serial, s.keyringStatePath(), err)
	}
	return nil
}
