package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// The storage and its FECs: create them, list them, show one.

func init() { register(newInit, newAddFEC, newLs, newShow) }

func newInit(e *env) cli.Command {
	return cli.Command{
		Name: "init", Args: "[DIR]", Summary: "Create an empty web storage (DIR or -storage).",
		Examples: []string{"fecctl init /srv/web-storage"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			var sf cli.StorageFlags
			sf.Register(fs)
			return func(args []string) error {
				if err := cli.NArgs(args, 0, 1, "[DIR]"); err != nil {
					return err
				}
				dir := sf.Dir
				if len(args) == 1 {
					dir = args[0]
				}
				st, err := storage.Init(dir, storage.WithLogger(sf.Logger()))
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "initialized web storage %s\n", st.Base())
				return nil
			}
		},
	}
}

func newAddFEC(e *env) cli.Command {
	return cli.Command{
		Name: "add-fec", Args: "FEC", Summary: "Create a FEC folder with its fec.conf (architecture, decoders).",
		Examples: []string{
			"fecctl add-fec -arch x86_64 scu01",
			"fecctl add-fec -arch ppc -decoders gzip,xz ppc01     # busybox FEC without zstd",
			"fecctl add-fec -arch x86_64 -persistent scu02        # its data is persisted",
		},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			arch := fs.String("arch", "", "architecture of the FEC (x86_64, i686, ppc, ...)")
			dec := fs.String("decoders", "", "archive formats the FEC can decode (default: gzip,xz for ppc, all otherwise)")
			persistent := fs.Bool("persistent", false, "create persistent-data/ (the FEC's data is persisted)")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 1, 1, "FEC"); err != nil {
					return err
				}
				if *arch == "" {
					return cli.Usagef("-arch is required (x86_64, i686, ppc, ...)")
				}
				return st.AddFEC(e.ctx, args[0], storage.FECConfig{Arch: *arch, Decoders: cli.SplitList(*dec), Persistent: *persistent})
			})
		},
	}
}

func newLs(e *env) cli.Command {
	return cli.Command{
		Name: "ls", Summary: "List the FECs: architecture, decoders and what each gets.",
		Examples: []string{"fecctl ls", "fecctl ls -json"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 0, 0, "no arguments"); err != nil {
					return err
				}
				views, err := cli.FECViews(e.ctx, st)
				if err != nil {
					return err
				}
				if *asJSON {
					return cli.PrintJSON(e.stdout, views)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "FEC\tARCH\tDECODERS\tSOFTWARE")
				for _, v := range views {
					var sw []string
					for _, en := range v.Entries {
						if en.Kind == index.KindSoftware {
							sw = append(sw, en.Name+"@"+en.Version+devMark(en))
						}
					}
					if v.Error != "" {
						sw = []string{"ERROR: " + v.Error}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, v.Arch, strings.Join(v.Decoders, ","), strings.Join(sw, " "))
				}
				return tw.Flush()
			})
		},
	}
}

func newShow(e *env) cli.Command {
	return cli.Command{
		Name: "show", Args: "FEC", Summary: "Show what a FEC gets: every entry of its INDEX, resolved.",
		Examples: []string{"fecctl show scu01", "fecctl show -json scu01"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 1, 1, "FEC"); err != nil {
					return err
				}
				info, err := st.FEC(e.ctx, args[0])
				if err != nil {
					return err
				}
				v := cli.NewFECView(info)
				if *asJSON {
					if err := cli.PrintJSON(e.stdout, v); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(e.stdout, "FEC %s (arch %s, decoders %s)\n", v.Name, v.Arch, strings.Join(v.Decoders, ","))
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tSIZE\tPATH")
					for _, en := range v.Entries {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", en.Kind, en.Name, en.Version+devMark(en), cli.HumanBytes(en.Size), en.Path)
					}
					tw.Flush()
				}
				return info.IndexError
			})
		},
	}
}

// devMark marks a dev release in listings.
func devMark(en index.Entry) string {
	if en.Dev {
		return " (dev)"
	}
	return ""
}
