// Command fecd is the release service: an HTTP API and web pages over the
// web storage, a database of releases, audit records and the FECs' status
// reports, restart and reboot over ssh. See docs/service.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/service"
)

const usage = `Usage:
  fecd serve [flags]            run the service
  fecd token [flags] NAME       create a token for NAME (a person or CI job), print it once
  fecd token -list [flags]      list token names
  fecd token -revoke [flags] NAME

Examples:
  fecd serve -storage /srv/web-storage -db /var/lib/fecd/fecd.db -listen :8080 \
      -ssh-key /var/lib/fecd/id_ed25519 -ssh-known-hosts /var/lib/fecd/known_hosts
  fecd serve -db postgres://fecd@dbhost/fecd -storage /srv/web-storage
  fecd token -db /var/lib/fecd/fecd.db ci-fesa

Exit codes: 0 ok; 1 error; 2 usage; 3 not found.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "token":
		err = token(ctx, args[1:], stdout, stderr)
	default:
		err = cli.Usagef("unknown command %q (serve, token)", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return cli.ExitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "fecd:", err)
		if errors.Is(err, service.ErrBadRequest) {
			return cli.ExitUsage
		}
		if errors.Is(err, service.ErrNotFound) {
			return cli.ExitNotFound
		}
		return cli.ExitCode(err)
	}
	return cli.ExitOK
}

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", cli.EnvOr("FECD_DB", "/var/lib/fecd/fecd.db"), "SQLite file, or postgres://user@host/db ($FECD_DB)")
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fecd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf cli.StorageFlags
	sf.Register(fs)
	db := dbFlag(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	var rm service.Remote
	fs.StringVar(&rm.Key, "ssh-key", "", "the service's ssh private key for restart/reboot (none: they are refused)")
	fs.StringVar(&rm.KnownHosts, "ssh-known-hosts", "", "known_hosts file with the FECs' host keys")
	fs.StringVar(&rm.User, "ssh-user", "root", "login user on the FECs")
	fs.IntVar(&rm.Port, "ssh-port", 0, "ssh port on the FECs (0: 22)")
	fs.StringVar(&rm.Host, "ssh-host", "{fec}", "host name of a FEC; {fec} is replaced by its name")
	var opt service.Options
	fs.IntVar(&opt.BatchSize, "batch", 5, "FECs restarted or rebooted at once")
	fs.Int64Var(&opt.MaxUpload, "max-upload", 2<<30, "largest archive accepted, in bytes")
	fs.DurationVar(&opt.Refresh, "refresh", 30*time.Second, "refresh interval of the web pages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected argument %q", fs.Arg(0))
	}
	st, err := sf.Open()
	if err != nil {
		return err
	}
	d, err := service.OpenDB(ctx, *db)
	if err != nil {
		return err
	}
	defer d.Close()
	if rm.Key != "" {
		opt.Remote = &rm
	}
	opt.Logger = sf.Logger()
	s, err := service.New(ctx, st, d, opt)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	opt.Logger.Warn("fecd listening", "addr", l.Addr().String(), "storage", st.Base())
	return s.Serve(ctx, l)
}

func token(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fecd token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := dbFlag(fs)
	list := fs.Bool("list", false, "list the token names")
	revoke := fs.Bool("revoke", false, "revoke the token of NAME")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := service.OpenDB(ctx, *db)
	if err != nil {
		return err
	}
	defer d.Close()
	if *list {
		toks, err := d.Tokens(ctx)
		if err != nil {
			return err
		}
		for _, t := range toks {
			fmt.Fprintf(stdout, "%s\t%s\n", t.Name, t.Created.Format(time.RFC3339))
		}
		return nil
	}
	if fs.NArg() != 1 {
		return cli.Usagef("fecd token NAME: one name (a person or CI job)")
	}
	if *revoke {
		return d.RevokeToken(ctx, fs.Arg(0))
	}
	tok, err := d.CreateToken(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
