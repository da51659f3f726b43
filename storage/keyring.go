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
// trusts for its successor: the key that signed it, or (a keyring written
// by an older writer that hands over itself) one it names as the next
// root. A root rotation is RotateRoot: newRoots must be empty.
func (s *Storage) UpdateKeyring(ctx context.Context, root ed25519.PrivateKey, lifetime time.Duration, newRoots []ed25519.PublicKey, change KeyringChange) (*index.Keyring, error) {
	if len(newRoots) > 0 {
		return nil, fmt.Errorf("%w: a root rotation needs the new root's private key too (RotateRoot, fecctl keyring set-root -new-root-key): the keyring that hands over must be followed at once by one the new root signs", ErrKeyring)
	}
	return s.updateKeyring(ctx, root, nil, nil, lifetime, change)
}

// RotateRoot hands the keyring over from oldRoot to newRoot (and the
// further root keys also, if any) in one step: a keyring signed by oldRoot
// naming the new roots, kept as keys/keyring.<serial> and listed in
// keys/rotations (the link a FEC that trusts oldRoot walks), then the
// current keyring, with the next serial, signed by newRoot. So the current
// keyring is always signed by the roots it leaves trusted: a FEC that
// walked the link verifies it with the new roots, now and at every later
// boot (docs/index-format.md, "Keyring").
func (s *Storage) RotateRoot(ctx context.Context, oldRoot, newRoot ed25519.PrivateKey, lifetime time.Duration, also ...ed25519.PublicKey) (*index.Keyring, error) {
	roots := append([]ed25519.PublicKey{newRoot.Public().(ed25519.PublicKey)}, also...)
	for _, r := range roots[1:] {
		if r.Equal(roots[0]) {
			return nil, fmt.Errorf("%w: root key %s given twice", ErrKeyring, index.KeyID(r))
		}
	}
	if roots[0].Equal(oldRoot.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("%w: the new root key is the old one", ErrKeyring)
	}
	return s.updateKeyring(ctx, oldRoot, roots, newRoot, lifetime, KeepKeyring)
}

// updateKeyring writes the changed keyring signed by root; with newRoots
// (and their signer successor) it writes the hand-over link first and then
// the current keyring signed by successor.
func (s *Storage) updateKeyring(ctx context.Context, root ed25519.PrivateKey, newRoots []ed25519.PublicKey, successor ed25519.PrivateKey, lifetime time.Duration, change KeyringChange) (*index.Keyring, error) {
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
		now := s.now()
		next.Serial = index.NextSerial(now, next.Serial)
		next.Expires = now.Add(lifetime).Truncate(time.Second)
		dir := s.abs(index.KeyringDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("storage: keyring: %w", err)
		}
		write := func(name string, k *index.Keyring, signer ed25519.PrivateKey) error {
			data, err := k.Marshal()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrKeyring, err)
			}
			if err := writeFileAtomic(dir, name, 0o644, data); err != nil {
				return fmt.Errorf("storage: keyring: %w", err)
			}
			if err := writeFileAtomic(dir, name+".sig", 0o644, index.Sign(signer, data)); err != nil {
				return fmt.Errorf("storage: keyring: %w", err)
			}
			return nil
		}
		if len(newRoots) > 0 {
			link := *next
			link.Roots = append([]ed25519.PublicKey(nil), newRoots...)
			if _, err := link.Marshal(); err != nil { // nothing written for a keyring that cannot be written
				return fmt.Errorf("%w: %v", ErrKeyring, err)
			}
			if err := write(filepath.Base(index.KeyringVersionURLPath(link.Serial)), &link, root); err != nil {
				return err
			}
			rot, err := os.ReadFile(filepath.Join(dir, index.KeyringRotationsFile))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("storage: keyring: %w", err)
			}
			rot = append(rot, strconv.FormatUint(link.Serial, 10)+"\n"...)
			if err := writeFileAtomic(dir, index.KeyringRotationsFile, 0o644, rot); err != nil {
				return fmt.Errorf("storage: keyring: %w", err)
			}
			next.Serial = index.NextSerial(now, link.Serial)
			root = successor
		}
		if err := write(index.KeyringFile, next, root); err != nil {
			return err
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

// ResetSerials returns a change for a serial reset (docs/security.md,
// "Serial reset"): pub becomes the only INDEX-signing key (every other key
// is revoked, so that no INDEX signed before the reset verifies afterwards,
// whatever its serial), and the keyring carries a new reset: the next INDEX
// serial of this writer (issued and recorded now, so every INDEX signed
// afterwards has a higher serial). FECs that follow the keyring then lower
// the INDEX serial they accepted to it (index.ApplyReset). It runs within
// UpdateKeyring, with the storage lock held.
func (s *Storage) ResetSerials(pub ed25519.PublicKey) KeyringChange {
	return func(k *index.Keyring) error {
		id := index.KeyID(pub)
		for _, r := range k.Revoked {
			if r == id {
				return fmt.Errorf("%w: key %s was revoked; a serial reset needs a new key (fecctl keygen)", ErrKeyring, id)
			}
		}
		for _, old := range k.Keys {
			if !old.Equal(pub) {
				k.Revoked = append(k.Revoked, index.KeyID(old))
			}
		}
		k.Keys = []ed25519.PublicKey{pub}
		floor, err := s.issueSerial()
		if err != nil {
			return err
		}
		k.Reset = max(floor, k.Reset+1)
		return nil
	}
}
