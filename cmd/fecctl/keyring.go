package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// The keyring: the root-signed list of the keys that sign INDEX files.

func init() { register(newKeyring) }

func newKeyring(e *env) cli.Command {
	return cli.Command{
		Name: "keyring", Args: "show | add PUB.pem | revoke KEYID|PUB.pem | set-root [ALSO.pub...] | resign | reset-serial NEWKEY.pub",
		Summary: "Change the keyring (keys/keyring, signed by the offline root key) that names the keys FECs accept on INDEX files.",
		Examples: []string{
			"fecctl keyring add -root-key /media/offline/root.key /etc/fecdeploy/signing.pub",
			"fecctl keyring revoke -root-key /media/offline/root.key 3f2a9c0d11e4b7a8",
			"fecctl keyring set-root -root-key /media/offline/root.key -new-root-key /media/offline/root2.key   # hand over to a new root key",
			"fecctl keyring resign -root-key /media/offline/root.key   # renew the keyring's expiry",
			"fecctl keyring reset-serial -root-key /media/offline/root.key new-signing.pub   # FECs forget a too high INDEX serial (docs/security.md)",
			"fecctl keyring show",
		},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			rootKey := fs.String("root-key", "", "the root key (PEM private key) that signs the keyring")
			lifetime := fs.Duration("expires", index.KeyringLifetime, "how long the new keyring stays valid")
			newRootKey := fs.String("new-root-key", "", "set-root: the new root key (PEM private key); it signs the keyring that follows the hand-over")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if len(args) == 0 {
					return cli.Usagef("keyring: give show, add, revoke, set-root, resign or reset-serial")
				}
				if args[0] == "show" {
					return keyringShow(e, st)
				}
				var change storage.KeyringChange
				var roots []ed25519.PublicKey
				switch args[0] {
				case "add", "revoke":
					if err := cli.NArgs(args[1:], 1, 1, args[0]+" KEY"); err != nil {
						return err
					}
					if args[0] == "add" {
						pubs, err := readPubs(args[1])
						if err != nil {
							return err
						}
						change = storage.AddKey(pubs[0])
					} else {
						id := args[1]
						if strings.Contains(id, "/") || strings.HasSuffix(id, ".pem") || strings.HasSuffix(id, ".pub") {
							pubs, err := readPubs(id)
							if err != nil {
								return err
							}
							id = index.KeyID(pubs[0])
						}
						change = storage.RevokeKey(id)
					}
				case "set-root":
					if err := cli.NArgs(args[1:], 0, 15, "set-root [ALSO.pub...]"); err != nil {
						return err
					}
					if *newRootKey == "" {
						return cli.Usagef("keyring set-root: give -new-root-key FILE (the new root key: it signs the keyring that follows the hand-over, so FECs that walked it verify the current keyring)")
					}
					for _, p := range args[1:] {
						pubs, err := readPubs(p)
						if err != nil {
							return err
						}
						roots = append(roots, pubs...)
					}
					change = storage.KeepKeyring
				case "resign":
					if err := cli.NArgs(args[1:], 0, 0, "no arguments"); err != nil {
						return err
					}
					change = storage.KeepKeyring
				case "reset-serial":
					if err := cli.NArgs(args[1:], 1, 1, "reset-serial NEWKEY.pub"); err != nil {
						return err
					}
					pubs, err := readPubs(args[1])
					if err != nil {
						return err
					}
					change = st.ResetSerials(pubs[0])
				default:
					return cli.Usagef("keyring: unknown action %q: give show, add, revoke, set-root, resign or reset-serial", args[0])
				}
				if *rootKey == "" {
					return cli.Usagef("keyring %s: give -root-key FILE (the offline root key)", args[0])
				}
				root, err := cli.LoadSigningKey(*rootKey)
				if err != nil {
					return err
				}
				var k *index.Keyring
				if args[0] == "set-root" {
					newRoot, err := cli.LoadSigningKey(*newRootKey)
					if err != nil {
						return err
					}
					k, err = st.RotateRoot(e.ctx, root, newRoot, *lifetime, roots...)
					if err != nil {
						return err
					}
				} else if k, err = st.UpdateKeyring(e.ctx, root, *lifetime, nil, change); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "wrote %s serial %d, expires %s, %d keys\n", index.KeyringURLPath(), k.Serial,
					k.Expires.Format(time.RFC3339), len(k.Keys))
				if args[0] == "reset-serial" {
					fmt.Fprintf(e.stdout, "serial reset %d: FECs that follow the keyring accept INDEX serials from %d on, signed by key %s only.\n"+
						"Now sign with the new key and re-sign every INDEX: fecctl resign -sign-key NEW.key\n", k.Reset, k.Reset, index.KeyID(k.Keys[0]))
				}
				return nil
			})
		},
	}
}

func readPubs(p string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	pubs, err := index.ParsePublicKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return pubs, nil
}

func keyringShow(e *env, st *storage.Storage) error {
	data, _, err := st.ReadKeyring(e.ctx)
	if err != nil {
		return err
	}
	if data == nil {
		return fmt.Errorf("%w: no keyring in this storage (fecctl keyring add creates one)", storage.ErrNotFound)
	}
	k, err := index.ParseKeyring(data)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "serial %d, expires %s\n", k.Serial, k.Expires.Format(time.RFC3339))
	for _, p := range k.Keys {
		fmt.Fprintf(e.stdout, "key %s\n", index.KeyID(p))
	}
	for _, p := range k.Roots {
		fmt.Fprintf(e.stdout, "next root %s\n", index.KeyID(p))
	}
	for _, id := range k.Revoked {
		fmt.Fprintf(e.stdout, "revoked %s\n", id)
	}
	if k.Reset > 0 {
		fmt.Fprintf(e.stdout, "serial reset %d\n", k.Reset)
	}
	return nil
}
