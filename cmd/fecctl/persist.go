package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// Persistent data: which data sets fec-persist pulls from a FEC, and which
// stored generation the FEC restores (docs/persistence.md).

func init() { register(newPersist) }

func newPersist(e *env) cli.Command {
	return cli.Command{
		Name: "persist", Args: "add|rm|ls|restore ...",
		Summary: "Declare a FEC's persistent data sets and choose the snapshot it restores.",
		Examples: []string{
			"fecctl persist add scu01 BeamPosition_DU /opt/fesa/data/BeamPosition_DU",
			"fecctl persist ls scu01",
			"fecctl persist restore -generation 3 scu01 BeamPosition_DU",
			"fecctl persist rm scu01 BeamPosition_DU",
		},
		Sub: []cli.Command{newPersistAdd(e), newPersistRm(e), newPersistLs(e), newPersistRestore(e)},
	}
}

func newPersistAdd(e *env) cli.Command {
	return cli.Command{
		Name: "add", Args: "FEC NAME DIR...",
		Summary:  "Declare (or redeclare) data set NAME: absolute directories on the FEC, below its allowed roots.\nCreates persistent-data/, so fec-persist visits the FEC.",
		Examples: []string{"fecctl persist add scu01 BeamPosition_DU /opt/fesa/data/BeamPosition_DU"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 3, -1, "FEC NAME DIR..."); err != nil {
					return err
				}
				if err := st.SetDataSet(e.ctx, args[0], storage.DataSet{Name: args[1], Dirs: args[2:]}); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "FEC %s: data set %s = %s\n", args[0], args[1], strings.Join(args[2:], " "))
				return nil
			})
		},
	}
}

func newPersistRm(e *env) cli.Command {
	return cli.Command{
		Name: "rm", Args: "FEC NAME",
		Summary:  "Remove data set NAME: its declaration and every stored snapshot; the FEC no longer restores it.",
		Examples: []string{"fecctl persist rm scu01 BeamPosition_DU"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 2, 2, "FEC NAME"); err != nil {
					return err
				}
				return st.RemoveDataSet(e.ctx, args[0], args[1])
			})
		},
	}
}

// persistListing is the -json output of persist ls.
type persistListing struct {
	FEC       string             `json:"fec"`
	DataSets  []storage.DataSet  `json:"data_sets"`
	Snapshots []storage.Snapshot `json:"snapshots"`
}

func newPersistLs(e *env) cli.Command {
	return cli.Command{
		Name: "ls", Args: "FEC",
		Summary:  "List a FEC's data sets and their stored generations (* = the one the FEC restores).",
		Examples: []string{"fecctl persist ls scu01", "fecctl persist ls -json scu01"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 1, 1, "FEC"); err != nil {
					return err
				}
				sets, err := st.DataSets(e.ctx, args[0])
				if err != nil {
					return err
				}
				snaps, err := st.Snapshots(e.ctx, args[0])
				if err != nil {
					return err
				}
				if *asJSON {
					return cli.PrintJSON(e.stdout, persistListing{FEC: args[0], DataSets: sets, Snapshots: snaps})
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DATA SET\tDIRECTORIES")
				for _, ds := range sets {
					fmt.Fprintf(tw, "%s\t%s\n", ds.Name, strings.Join(ds.Dirs, " "))
				}
				tw.Flush()
				printSnapshots(e, snaps)
				return nil
			})
		},
	}
}

// printSnapshots lists snapshots with their age.
func printSnapshots(e *env, snaps []storage.Snapshot) {
	if len(snaps) == 0 {
		fmt.Fprintln(e.stdout, "no snapshots stored")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SNAPSHOT\tGENERATION\tSIZE\tAGE\tSTORED")
	for _, s := range snaps {
		mark := ""
		if s.Current {
			mark = " *"
		}
		fmt.Fprintf(tw, "%s\t%d%s\t%s\t%s\t%s\n", s.Set, s.Generation, mark, cli.HumanBytes(s.Size), age(time.Since(s.Time)), s.Time.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}

// age renders a duration the way people read snapshot ages.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func newPersistRestore(e *env) cli.Command {
	return cli.Command{
		Name: "restore", Args: "FEC NAME",
		Summary:  "Make a stored generation of data set NAME the one the FEC restores at its next boot (INDEX rewritten).",
		Examples: []string{"fecctl persist restore -generation 3 scu01 BeamPosition_DU"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			gen := fs.Int("generation", 0, "the generation to restore (see fecctl persist ls)")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 2, 2, "FEC NAME"); err != nil {
					return err
				}
				if *gen <= 0 {
					return cli.Usagef("-generation N is required (see fecctl persist ls %s)", args[0])
				}
				s, err := st.RestoreGeneration(e.ctx, args[0], args[1], *gen)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "FEC %s restores %s generation %d (%s) at its next boot\n", args[0], args[1], s.Generation, s.Path)
				return nil
			})
		},
	}
}
