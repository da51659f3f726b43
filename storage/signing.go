package storage

// A refused change changes nothing: every writing method checks, before it
// touches the tree, that it can finish - in particular that it can write
// the INDEX files it would change. An INDEX that is signed can only be
// rewritten with the signing key; without it the change must not start.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// signedAmong returns the FECs among fecs whose INDEX is signed (has INDEX.sig).
func (s *Storage) signedAmong(fecs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, fec := range fecs {
		if seen[fec] {
			continue
		}
		seen[fec] = true
		dir, err := s.absFor(fecPathSpec{fec})
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, index.SigFileName)); err == nil {
			out = append(out, fec)
		}
	}
	sort.Strings(out)
	return out
}

// requireKeyFor refuses (ErrSigningKey) a change to the INDEX of fecs when
// one of them is signed and no signing key is set. Call it before changing
// anything; what names the change for the message.
func (s *Storage) requireKeyFor(what string, fecs ...string) error {
	if s.signingKey() != nil {
		return nil
	}
	signed := s.signedAmong(fecs)
	if len(signed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s would change the signed INDEX of %s; nothing was changed. Give the signing key "+
		"(-sign-key FILE, $FECDEPLOY_SIGNING_KEY or /etc/fecdeploy/signing.key), or stop signing deliberately with fecctl unsign",
		ErrSigningKey, what, strings.Join(signed, ", "))
}

// RequireSigningKey returns ErrSigningKey when no signing key is set and the
// INDEX of one of fecs is signed: a change to those FECs could not be
// finished. Callers that prepare work before they call a writing method
// (fec-pack packs before it links) check it first.
func (s *Storage) RequireSigningKey(what string, fecs ...string) error {
	return s.requireKeyFor(what, fecs...)
}

// requireKeyForNewFEC refuses to add a FEC without the key when the storage
// signs INDEX files (some FEC's INDEX is signed): the new FEC's INDEX would
// be the one unsigned INDEX of a signed storage.
func (s *Storage) requireKeyForNewFEC(ctx context.Context, name string) error {
	if s.signingKey() != nil {
		return nil
	}
	fecs, err := s.FECs(ctx)
	if err != nil {
		return err
	}
	if signed := s.signedAmong(fecs); len(signed) > 0 {
		return fmt.Errorf("%w: adding FEC %s: this storage signs its INDEX files (%d FECs signed, e.g. %s) and the new FEC's would be unsigned; "+
			"nothing was changed. Give the signing key (-sign-key FILE, $FECDEPLOY_SIGNING_KEY or /etc/fecdeploy/signing.key)",
			ErrSigningKey, name, len(signed), signed[0])
	}
	return nil
}
