package main

import (
	"flag"
	"fmt"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// INDEX signatures: create a key pair, sign, stop signing.

func init() { register(newKeygen, newSign, newResign, newUnsign) }

func newKeygen(e *env) cli.Command {
	return cli.Command{
		Name: "keygen", Args: "PREFIX", Summary: "Create an ed25519 key pair for INDEX signatures (or, with -root, the offline root key of a keyring): PREFIX.key (0600) and PREFIX.pub.",
		Examples: []string{
			"fecctl keygen /etc/fecdeploy/signing   # signing.key stays on the writer host; signing.pub goes to every FEC",
			"fecctl keygen -root /media/offline/root   # root.key stays offline; root.pub goes to every FEC (root_keys=)",
		},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			root := fs.Bool("root", false, "a root key: signs the keyring (keys/keyring), kept offline")
			return func(args []string) error {
				if err := cli.NArgs(args, 1, 1, "PREFIX"); err != nil {
					return err
				}
				key, pub, err := cli.WriteKeyPair(args[0])
				if err != nil {
					return err
				}
				if *root {
					fmt.Fprintf(e.stdout, "wrote %s (the root key: keep it offline, back it up) and %s (install it on the FECs as root key)\n", key, pub)
					return nil
				}
				fmt.Fprintf(e.stdout, "wrote %s (keep it on the writer host) and %s (install it on the FECs, or add it to the keyring)\n", key, pub)
				return nil
			}
		},
	}
}

func newSign(e *env) cli.Command {
	return cli.Command{
		Name: "sign", Args: "[FEC...]", Summary: "Sign the INDEX of the given FECs (or all) with the signing key.",
		Examples: []string{"fecctl sign -sign-key /etc/fecdeploy/signing.key", "fecctl sign scu01"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			var sf cli.StorageFlags
			sf.Register(fs)
			return func(args []string) error {
				key, err := cli.LoadSigningKey(sf.SignKey)
				if err != nil {
					return err
				}
				if key == nil {
					return fmt.Errorf("%w: give -sign-key FILE or $FECDEPLOY_SIGNING_KEY, or create %s with fecctl keygen; nothing was changed",
						storage.ErrSigningKey, cli.DefaultSigningKey)
				}
				st, err := sf.Open()
				if err != nil {
					return err
				}
				return st.Reindex(e.ctx, args...)
			}
		},
	}
}

func newResign(e *env) cli.Command {
	return cli.Command{
		Name: "resign", Args: "[FEC...]", Summary: "Re-sign the INDEX of the given FECs (or all) with a new serial and expiry (run daily: examples/systemd).",
		Examples: []string{"fecctl resign", "systemctl enable --now fecdeploy-resign.timer"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				return st.Resign(e.ctx, args...)
			})
		},
	}
}

func newUnsign(e *env) cli.Command {
	return cli.Command{
		Name: "unsign", Args: "[FEC...]", Summary: "Stop signing: remove INDEX.sig of the given FECs (or all). Remove the FECs' public keys first, or they refuse to boot.",
		Examples: []string{"fecctl unsign scu01"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				removed, err := st.Unsign(e.ctx, args...)
				for _, p := range removed {
					fmt.Fprintf(e.stdout, "removed %s\n", p)
				}
				return err
			})
		},
	}
}
