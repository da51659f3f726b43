package storage

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// The keyring (index.Keyring) is served at keys/keyring with keys/keyring.sig,
// signed by the offline root key; a keyring that changes the root key set is
// also kept as keys/keyring.<serial> and listed in keys/rotations, so that a
// FEC that was offline across rotations can walk the chain
// (docs/security.md, "Keys").

// ErrKeyring: the keyring cannot be changed with the given root key.
var ErrKeyring = errors.New("storage: keyring")

// KeyringChange changes a keyring in place; UpdateKeyring gives it a copy of
// the current one (or an empty one) with Roots cleared.
type KeyringChange func(k *index.Keyring) error

// ReadKeyring returns the current keyring and its signature; (nil, nil, nil)
// when the storage has none.
func (s *Storage) ReadKeyring(ctx context.Context) (data, sig []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	dir := s.abs(index.KeyringDir)
	data, err = os.ReadFile(filepath.Join(dir, index.KeyringFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("storage: keyring: %w", err)
	}
	sig, err = os.ReadFile(filepath.Join(dir, index.KeyringSigFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("storage: keyring: %w", err)
	}
	return data, sig, nil
}

// UpdateKeyring applies change to the keyring and signs the result with
// root, with a new serial and an expiry lifetime from now (0 =
// index.KeyringLifetime). The root key must be the one the current keyring
// trusts for its successor: the key that signed it, or the one it names as
// the next root (after SetRoot). With newRoots, the new keyring hands over
// to those root keys (a root rotation): it is kept as keys/keyring.<serial>
// and listed in keys/rotations.
func (s *Storage) UpdateKeyring(ctx context.Context, root ed25519.PrivateKey, lifetime time.Duration, newRoots []ed25519.PublicKey, change KeyringChange) (*index.Keyring, error) {
	if lifetime <= 0 {
		lifetime = index.KeyringLifetime
	}
	var out *index.Keyring
	err := s.locked(ctx, func() error {
		data, sig, err := s.ReadKeyring(ctx)
		if err != nil {
			return err
		}
		rootPub := root.Public().(ed25519.PublicKey)
		next := &index.Keyring{}
		if data != nil {
			cur, err := index.ParseKeyring(data)
			if err != nil {
				return fmt.Errorf("%w: the current %s does not parse (%v); fix it from a backup", ErrKeyring, index.KeyringURLPath(), err)
			}
			signedByRoot := index.VerifySignature(data, sig, []ed25519.PublicKey{rootPub}) == nil
			designated := false
			for _, r := range cur.Roots {
				designated = designated || r.Equal(rootPub)
			}
			switch {
			case len(cur.Roots) > 0 && !designated:
				return fmt.Errorf("%w: the current keyring hands over to other root keys; sign with one of them", ErrKeyring)
			case len(cur.Roots) == 0 && !signedByRoot:
				return fmt.Errorf("%w: the current keyring is not signed by root key %s: use the root key the FECs trust", ErrKeyring, index.KeyID(rootPub))
			}
			*next = *cur
			next.Keys = append([]ed25519.PublicKey(nil), cur.Keys...)
			next.Revoked = append([]string(nil), cur.Revoked...)
		}
		next.Roots = nil
		if err := change(next); err != nil {
			return err
		}
		next.Roots = append([]ed25519.PublicKey(nil), newRoots...)
		now := s.now()
		next.Serial = index.NextSerial(now, next.Serial)
		next.Expires = now.Add(lifetime).Truncate(time.Second)
		ndata, err := next.Marshal()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrKeyring, err)
		}
		nsig := index.Sign(root, ndata)
		dir := s.abs(index.KeyringDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("storage: keyring: %w", err)
		}
		if len(newRoots) > 0 {
			name := filepath.Base(index.KeyringVersionURLPath(next.Serial))
			if err := writeFileAtomic(dir, name, 0o644, ndata); err != nil {
				return fmt.Errorf("storage: keyring: %w", err)
			}
			if err := writeFileAtomic(dir, name+".sig", 0o644, nsig); err != nil {
				return fmt.Errorf("storage: keyring: %w", err)
			}
			rot, err := os.ReadFile(filepath.Join(dir, index.KeyringRotationsFile))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("storage: keyring: %w", err)
			}
			rot = append(rot, strconv.FormatUint(next.Serial, 10)+"\n"...)
			if err := writeFileAtomic(dir, index.KeyringRotationsFile, 0o644, rot); err != nil {
				return fmt.Errorf("storage: keyring: %w", err)
			}
		}
		if err := writeFileAtomic(dir, index.KeyringFile, 0o644, ndata); err != nil {
			return fmt.Errorf("storage: keyring: %w", err)
		}
		if err := writeFileAtomic(dir, index.KeyringSigFile, 0o644, nsig); err != nil {
			return fmt.Errorf("storage: keyring: %w", err)
		}
		s.logger().Info("wrote keyring", "serial", next.Serial, "keys", len(next.Keys), "rotation", len(newRoots) > 0)
		out = next
		return nil
	})
	return out, err
}

// AddKey returns a change that adds an INDEX-signing key (and takes it off
// the revoked list).
func AddKey(pub ed25519.PublicKey) KeyringChange {
	return func(k *index.Keyring) error {
		id := index.KeyID(pub)
		for _, r := range k.Revoked {
			if r == id {
				return fmt.Errorf("%w: key %s was revoked; a revoked key stays revoked: create a new one (fecctl keygen)", ErrKeyring, id)
			}
		}
		if !k.HasKey(pub) {
			k.Keys = append(k.Keys, pub)
		}
		return nil
	}
}

// RevokeKey returns a change that removes the key with this id (or
// public key) and records it as revoked.
func RevokeKey(id string) KeyringChange {
	return func(k *index.Keyring) error {
		kept := k.Keys[:0:0]
		found := false
		for _, p := range k.Keys {
			if index.KeyID(p) == id {
				found = true
				continue
			}
			kept = append(kept, p)
		}
		if !found {
			return fmt.Errorf("%w: %w: no key %s in the keyring", ErrKeyring, ErrNotFound, id)
		}
		if len(kept) == 0 {
			return fmt.Errorf("%w: revoking %s would leave no INDEX-signing key: add the new key first (fecctl keyring add)", ErrKeyring, id)
		}
		k.Keys = kept
		k.Revoked = append(k.Revoked, id)
		return nil
	}
}

// KeepKeyring changes nothing: UpdateKeyring then only renews serial and
// expiry.
func KeepKeyring(*index.Keyring) error { return nil }
