package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/monitor"
	"github.com/fair-acc/fecdeploy/storage"
)

// Monitoring: the declaration in fecs/<FEC>/monitor/ and the Icinga 2
// configuration generated from it (docs/monitoring.md).

func init() { register(newMonitor, newIcinga) }

func newMonitor(e *env) cli.Command {
	return cli.Command{
		Name: "monitor", Args: "add|rm|ls|groups FEC [NAME key=value...|GROUP...]",
		Summary: "Edit a FEC's monitoring declaration (fecs/<FEC>/monitor/) by hand.\n" +
			"add writes one check (creating monitor/, which makes the FEC monitored), rm removes one,\n" +
			"ls lists them, groups sets the Icinga host groups (none: removes the file).",
		Examples: []string{
			"fecctl monitor add scu01 rda3 check=tcp port=9000 warning=1 critical=2",
			"fecctl monitor add scu01 Foo_DU check=process process=Foo_DU_M",
			"fecctl monitor add scu01 web check=http url=http:///status port=8080",
			"fecctl monitor add scu01 ping check=command command=ping4 arg.ping_wrta=100",
			"fecctl monitor groups scu01 sis18 all-fecs",
			"fecctl monitor ls scu01",
			"fecctl monitor rm scu01 rda3",
		},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := jsonFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if len(args) < 2 {
					return cli.Usagef("want add|rm|ls|groups FEC ...")
				}
				op, fec, rest := args[0], args[1], args[2:]
				switch op {
				case "add":
					if len(rest) < 2 {
						return cli.Usagef("want monitor add FEC NAME check=KIND key=value...")
					}
					svc, err := monitor.ServiceFromArgs(rest[0], rest[1:], monitor.ParseOptions{})
					if err != nil {
						return fmt.Errorf("%w: %w", cli.ErrUsage, err)
					}
					return st.AddMonitorService(e.ctx, fec, svc)
				case "rm":
					if err := cli.NArgs(rest, 1, 1, "NAME"); err != nil {
						return err
					}
					return st.RemoveMonitorService(e.ctx, fec, rest[0])
				case "groups":
					return st.SetMonitorGroups(e.ctx, fec, rest)
				case "ls":
					if err := cli.NArgs(rest, 0, 0, ""); err != nil {
						return err
					}
					h, ok, err := st.MonitorServices(e.ctx, fec)
					if err != nil {
						return err
					}
					if *asJSON {
						return cli.PrintJSON(e.stdout, h)
					}
					if !ok {
						fmt.Fprintf(e.stdout, "%s is not monitored (no fecs/%s/%s/)\n", fec, fec, monitor.Dir)
						return nil
					}
					fmt.Fprintf(e.stdout, "groups: %s\n", strings.Join(h.Groups, " "))
					for _, s := range h.Services {
						fmt.Fprintf(e.stdout, "%-24s %s\n", s.Name, strings.ReplaceAll(strings.TrimSpace(dropComments(s.Marshal())), "\n", " "))
					}
					return nil
				}
				return cli.Usagef("unknown monitor operation %q: want add, rm, ls or groups", op)
			})
		},
	}
}

func dropComments(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func newIcinga(e *env) cli.Command {
	return cli.Command{
		Name: "icinga", Args: "-out DIR",
		Summary: "Generate the Icinga 2 configuration of every FEC with a monitor/ folder into DIR/current,\n" +
			"switched atomically as a set; -check validates it with icinga2 daemon -C first and keeps the old set if it fails.",
		Examples: []string{
			"fecctl icinga -out /var/lib/fecdeploy/icinga",
			"fecctl icinga -out /var/lib/fecdeploy/icinga -check -reload 'systemctl reload icinga2'",
			"fecctl icinga -out /var/lib/fecdeploy/icinga -domain .acc.example.org -boot-status 'http://{fec}/fecdeploy/status.json'",
		},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			out := fs.String("out", "", "output directory (Icinga includes DIR/current)")
			check := fs.Bool("check", false, "validate the new set with icinga2 daemon -C before switching to it")
			icinga2 := fs.String("icinga2", "icinga2", "the icinga2 binary for -check")
			includes := fs.String("check-include", "", "comma-separated files -check also includes (the site's own objects the generated ones use)")
			reload := fs.String("reload", "", "command run after a new set became current (split on spaces), e.g. 'systemctl reload icinga2'")
			var ro monitor.RenderOptions
			fs.StringVar(&ro.Domain, "domain", "", "appended to a FEC's name for its address when fec.conf has no address=")
			fs.StringVar(&ro.SSHUser, "ssh-user", "", "login for process and systemd checks (by_ssh)")
			fs.StringVar(&ro.BootStatus, "boot-status", "", "add the fec-boot check: the status file's path or URL, {fec} = the FEC's name")
			fs.StringVar(&ro.BootCommand, "boot-command", "", "check_fec_boot's path (default PluginDir/check_fec_boot)")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 0, 0, ""); err != nil {
					return err
				}
				if *out == "" {
					return cli.Usagef("-out DIR is required")
				}
				hosts, err := st.MonitorHosts(e.ctx, monitor.ParseOptions{})
				if err != nil {
					return err
				}
				so := monitor.SetOptions{Check: *check, Icinga2: *icinga2, Reload: strings.Fields(*reload), CheckIncludes: cli.SplitList(*includes)}
				res, err := monitor.Generate(e.ctx, hosts, *out, ro, so)
				if err != nil {
					return err
				}
				switch {
				case !res.Changed:
					fmt.Fprintf(e.stdout, "unchanged: %s (%d monitored FECs)\n", res.Dir, len(hosts))
				default:
					fmt.Fprintf(e.stdout, "current: %s (%d monitored FECs)", res.Dir, len(hosts))
					if res.Reloaded {
						fmt.Fprint(e.stdout, ", Icinga reloaded")
					}
					fmt.Fprintln(e.stdout)
				}
				return nil
			})
		},
	}
}
