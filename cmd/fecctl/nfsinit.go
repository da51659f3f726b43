package main

import (
	"flag"
	"fmt"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/nfsinit"
)

// Migration from NFS-init: import-nfsinit.

func init() { register(newImportNFSInit) }

func newImportNFSInit(e *env) cli.Command {
	return cli.Command{
		Name: "import-nfsinit", Args: "DIR",
		Summary: "Import an NFS-init export (DIR/<FEC>/ scripts, links to shared scripts, software trees and tarballs): FECs, global and init scripts, software versions. Dry run (a table) unless -apply.",
		Examples: []string{"fecctl import-nfsinit /common/export/nfsinit",
			"fecctl import-nfsinit -apply -arch x86_64 /common/export/nfsinit"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			apply := fs.Bool("apply", false, "carry the plan out (default: print it only)")
			var opts nfsinit.Options
			fs.StringVar(&opts.Arch, "arch", "x86_64", "architecture of the FECs created")
			fs.StringVar(&opts.Prefix, "prefix", "opt/fesa/{name}/{version}", "unpack location of imported software")
			shared := fs.String("shared", "global,common,shared,scripts", "top-level directories of the export holding shared scripts, not FECs")
			var sf cli.StorageFlags
			sf.Register(fs)
			return func(args []string) error {
				if err := cli.NArgs(args, 1, 1, "DIR"); err != nil {
					return err
				}
				opts.Shared = cli.SplitList(*shared)
				plan, err := nfsinit.Scan(args[0], opts)
				if err != nil {
					return err
				}
				if *asJSON {
					if err := cli.PrintJSON(e.stdout, plan); err != nil {
						return err
					}
				} else if err := plan.WriteTable(e.stdout); err != nil {
					return err
				}
				if !*apply {
					fmt.Fprintln(e.stderr, "dry run: nothing written; run again with -apply to import")
					return nil
				}
				st, err := sf.Open() // only now: a dry run needs no storage
				if err != nil {
					return err
				}
				return nfsinit.Apply(e.ctx, st, plan, nfsinit.ApplyOptions{Prefix: opts.Prefix, Progress: func(s nfsinit.Step, err error) {
					if err != nil {
						fmt.Fprintf(e.stderr, "failed: %s %s %s: %v\n", s.FEC, s.Action, s.Name, err)
					}
				}})
			}
		},
	}
}
