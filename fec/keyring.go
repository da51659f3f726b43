package fec

import (
	"bytes"
	"context"
	"crypto/ed25519"
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
// the keyring lists. The keyring serial and the roots it ends with are
// recorded (keyring-serial, keyring-roots.pem in the state directory) only
// after the INDEX was accepted too.

// State files of the keyring.
const (
	KeyringSerialFile = "keyring-serial"
	KeyringRootsFile  = "keyring-roots.pem"
)

// keyring returns the INDEX-signing keys of the current keyring and a
// function that records the keyring state.
func (s *session) keyring(ctx context.Context) ([]ed25519.PublicKey, func() error, error) {
	cfg := s.cfg
	roots := cfg.RootKeys
	if b, err := os.ReadFile(filepath.Join(cfg.StateDir, KeyringRootsFile)); err == nil {
		if rs, err := index.ParsePublicKeys(b); err == nil {
			roots = rs
		} else {
			return nil, nil, fmt.Errorf("%w: %s is damaged (%v): restore it, or remove it to trust only the pinned root keys", ErrInstall, KeyringRootsFile, err)
		}
	}
	var accepted uint64
	if b, err := os.ReadFile(filepath.Join(cfg.StateDir, KeyringSerialFile)); err == nil {
		v := strings.TrimSpace(string(b))
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil {
			return nil, nil, fmt.Errorf("%w: %s is damaged (%q)", ErrInstall, KeyringSerialFile, v)
		}
		accepted = n
	}
	get := func(p string, limit int64) ([]byte, error) {
		return s.f.getSmall(ctx, s.base.JoinPath(p), limit)
	}
	var rotations []uint64
	rb, err := get(index.KeyringDir+"/"+index.KeyringRotationsFile, index.KeyringMaxSize)
	var he *HTTPError
	switch {
	case err == nil:
		if rotations, err = index.ParseRotations(rb); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrVerify, err)
		}
	case errors.As(err, &he) && he.StatusCode == 404:
	default:
		return nil, nil, fmt.Errorf("%w: fetching the keyring rotations: %v", ErrUnreachable, err)
	}
	now := time.Now()
	if cfg.Now != nil {
		now = cfg.Now()
	}
	fetch := func(p string) ([]byte, []byte, error) {
		data, err := get(p, index.KeyringMaxSize)
		if err != nil {
			return nil, nil, err
		}
		sig, err := get(p+".sig", 1024)
		return data, sig, err
	}
	k, next, err := index.WalkKeyrings(roots, accepted, rotations, now, index.ClockSane(now), fetch)
	// The writer replaces keys/keyring, then keys/keyring.sig: a FEC that
	// fetched between the two renames holds a pair that does not verify.
	// As for the INDEX, fetch again until it has failed for pairSettle.
	for attempt, first := 0, time.Now(); errors.Is(err, index.ErrKeyringSig) && time.Since(first) < pairSettle(cfg); attempt++ {
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: keyring refused: %w", ErrVerify, err)
		case <-time.After(backoff(0)(cfg.RetryWaitMin, min(cfg.RetryWaitMax, time.Second), attempt, nil)):
		}
		k, next, err = index.WalkKeyrings(roots, accepted, rotations, now, index.ClockSane(now), fetch)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: keyring refused: %w", ErrVerify, err)
	}
	commit := func() error {
		if cfg.DryRun || k.Serial <= accepted {
			return nil
		}
		var pem bytes.Buffer
		for _, r := range next {
			pem.Write(index.PublicKeyPEM(r))
		}
		if err := writeFileAtomic(filepath.Join(cfg.StateDir, KeyringRootsFile), pem.Bytes(), 0o644); err != nil {
			return fmt.Errorf("%w: recording the keyring roots: %v", ErrInstall, err)
		}
		if err := writeFileAtomic(filepath.Join(cfg.StateDir, KeyringSerialFile), []byte(strconv.FormatUint(k.Serial, 10)+"\n"), 0o644); err != nil {
			return fmt.Errorf("%w: recording the keyring serial: %v", ErrInstall, err)
		}
		return nil
	}
	return k.Keys, commit, nil
}
