package main

import (
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/publish"
)

// Dev releases on FECs (copied there by fec-pack -dev -to-fec): list and remove.

func init() { register(newDev) }

func newDev(e *env) cli.Command {
	return cli.Command{
		Name: "dev", Args: "ls FEC | rm FEC NAME",
		Summary: "List or remove the dev releases installed on a FEC (over ssh, with the FEC's own client).",
		Examples: []string{"fecctl dev ls scu01", "fecctl dev rm scu01 Foo_DU",
			"fecctl dev ls -fec-client fec-boot.sh fec-ppc01   # a busybox FEC"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			client := fs.String("fec-client", cli.EnvOr("FECDEPLOY_FEC_CLIENT", "fec-boot"), "the FEC's client command ($FECDEPLOY_FEC_CLIENT)")
			sshConf := fs.String("ssh-config", os.Getenv("FECDEPLOY_SSH_CONFIG"), "ssh configuration file (ssh -F; default ~/.ssh/config) ($FECDEPLOY_SSH_CONFIG)")
			return func(args []string) error {
				if len(args) == 0 {
					return cli.Usagef("want ls FEC or rm FEC NAME")
				}
				switch args[0] {
				case "ls":
					if err := cli.NArgs(args[1:], 1, 1, "FEC"); err != nil {
						return err
					}
					devs, err := publish.ListDev(e.ctx, publish.SSH{Host: args[1], ConfigFile: *sshConf}, *client)
					if err != nil {
						return err
					}
					if *asJSON {
						return cli.PrintJSON(e.stdout, devs)
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tVERSION\tSHA256\tINSTALLED\tPREFIX")
					for _, d := range devs {
						fmt.Fprintf(tw, "%s\t%s\t%.12s\t%s\t%s\n", d.Name, d.Version, d.SHA256, d.Installed.Format(time.RFC3339), d.Prefix)
					}
					return tw.Flush()
				case "rm":
					if err := cli.NArgs(args[1:], 2, 2, "FEC NAME"); err != nil {
						return err
					}
					out, err := publish.RemoveDevRemote(e.ctx, publish.SSH{Host: args[1], ConfigFile: *sshConf}, *client, args[2])
					fmt.Fprint(e.stdout, out)
					return err
				}
				return cli.Usagef("unknown dev subcommand %q: want ls FEC or rm FEC NAME", args[0])
			}
		},
	}
}
