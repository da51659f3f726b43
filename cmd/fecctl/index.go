package main

import (
	"flag"
	"fmt"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// The FECs' INDEX files and the storage's health: reindex, verify.

func init() { register(newReindex, newVerify) }

func newReindex(e *env) cli.Command {
	return cli.Command{
		Name: "reindex", Args: "[FEC...]", Summary: "Regenerate INDEX (and INDEX.sig) of the given FECs, or of all.",
		Examples: []string{"fecctl reindex", "fecctl reindex scu01 scu02"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				return st.Reindex(e.ctx, args...)
			})
		},
	}
}

func newVerify(e *env) cli.Command {
	return cli.Command{
		Name: "verify", Summary: "Check the storage: stale indexes, dangling links, missing or altered archives, empty version folders, arch mismatches, bad names, unknown files.",
		Examples: []string{"fecctl verify", "fecctl verify -json", "fecctl verify -clean   # first remove what killed writers left behind"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			clean := fs.Bool("clean", false, "first remove what killed writers left: temp files, version folders without an archive")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 0, 0, "no arguments"); err != nil {
					return err
				}
				if *clean {
					removed, err := st.Clean(e.ctx)
					if err != nil {
						return err
					}
					for _, p := range removed {
						fmt.Fprintf(e.stderr, "cleaned %s\n", p)
					}
				}
				rep, err := st.Verify(e.ctx)
				if err != nil {
					return err
				}
				if *asJSON {
					if err := cli.PrintJSON(e.stdout, rep); err != nil {
						return err
					}
				} else {
					for _, p := range rep.Problems {
						fmt.Fprintln(e.stdout, p.String())
					}
					fmt.Fprintf(e.stdout, "checked %d FECs, %d archives, %d entries: %d problems\n", rep.FECs, rep.Archives, rep.Entries, len(rep.Problems))
				}
				if !rep.OK() {
					return fmt.Errorf("%w: %d", cli.ErrProblems, len(rep.Problems))
				}
				return nil
			})
		},
	}
}
