package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// Which version a FEC runs: who uses what, switch, roll back.

func init() { register(newWhoUses, newSwitch, newRollback) }

func newWhoUses(e *env) cli.Command {
	return cli.Command{
		Name: "who-uses", Args: "SOFTWARE [VERSION]", Summary: "List the FECs that link a software (or one version of it).",
		Examples: []string{"fecctl who-uses Foo_DU", "fecctl who-uses -json Foo_DU 1.2.0"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 1, 2, "SOFTWARE [VERSION]"); err != nil {
					return err
				}
				ver := ""
				if len(args) == 2 {
					ver = args[1]
				}
				uses, err := st.Uses(e.ctx, index.KindSoftware, args[0], ver)
				if err != nil {
					return err
				}
				if *asJSON {
					return cli.PrintJSON(e.stdout, uses)
				}
				if len(uses) == 0 {
					fmt.Fprintf(e.stdout, "no FEC links %s %s\n", args[0], ver)
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "FEC\tSOFTWARE\tVERSION\tTARGET")
				for _, u := range uses {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.FEC, u.Software, u.Version, u.Target)
				}
				return tw.Flush()
			})
		},
	}
}

func newSwitch(e *env) cli.Command {
	return cli.Command{
		Name: "switch", Args: "FEC SOFTWARE VERSION | -all-fecs SOFTWARE VERSION",
		Summary:  "Switch a FEC (or every FEC using the software) to another published version, atomically.",
		Examples: []string{"fecctl switch scu01 Foo_DU 1.2.0", "fecctl switch -all-fecs Foo_DU 1.2.0"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			all := fs.Bool("all-fecs", false, "switch every FEC that links the software")
			asJSON := jsonFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if *all {
					if err := cli.NArgs(args, 2, 2, "SOFTWARE VERSION with -all-fecs"); err != nil {
						return err
					}
					rs, err := st.SwitchAll(e.ctx, args[0], args[1])
					if err != nil {
						return err
					}
					return printSwitches(e.stdout, rs, *asJSON)
				}
				if err := cli.NArgs(args, 3, 3, "FEC SOFTWARE VERSION"); err != nil {
					return err
				}
				r, err := st.Switch(e.ctx, args[0], args[1], args[2])
				if err != nil {
					return err
				}
				return printSwitches(e.stdout, []storage.SwitchResult{r}, *asJSON)
			})
		},
	}
}

func newRollback(e *env) cli.Command {
	return cli.Command{
		Name: "rollback", Args: "FEC SOFTWARE", Summary: "Switch a FEC back to the previous productive version still kept.",
		Examples: []string{"fecctl rollback scu01 Foo_DU"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 2, 2, "FEC SOFTWARE"); err != nil {
					return err
				}
				r, err := st.Rollback(e.ctx, args[0], args[1])
				if err != nil {
					return err
				}
				return printSwitches(e.stdout, []storage.SwitchResult{r}, *asJSON)
			})
		},
	}
}

func printSwitches(w io.Writer, rs []storage.SwitchResult, asJSON bool) error {
	if asJSON {
		return cli.PrintJSON(w, rs)
	}
	for _, r := range rs {
		if r.Changed {
			fmt.Fprintf(w, "%s: %s %s -> %s\n", r.FEC, r.Software, r.From, r.To)
		} else {
			fmt.Fprintf(w, "%s: %s already at %s\n", r.FEC, r.Software, r.To)
		}
	}
	return nil
}
