package main

import (
	"flag"
	"fmt"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/demo"
	"github.com/fair-acc/fecdeploy/internal/serve"
	"github.com/fair-acc/fecdeploy/storage"
)

// Serving and showing the storage: the built-in server, the demo, the shell
// client for images.

func init() { register(newServe, newDemo, newWriteShellClient) }

func newServe(e *env) cli.Command {
	return cli.Command{
		Name: "serve", Summary: "Serve the storage read-only over HTTP (demos, tests, small labs; production uses nginx).",
		Examples: []string{"fecctl serve -storage /srv/web-storage -listen 0.0.0.0:8080"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 0, 0, "no arguments"); err != nil {
					return err
				}
				srv, err := serve.Start(e.ctx, *listen, st.Base(), nil)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "serving %s on %s (Ctrl-C stops)\n", st.Base(), srv.URL)
				return srv.Wait()
			})
		},
	}
}

func newDemo(e *env) cli.Command {
	return cli.Command{
		Name: "demo", Summary: "Build a demo web storage, serve it with the built-in server, show what each FEC fetches and boot a simulated FEC.",
		Examples: []string{"fecctl demo", "fecctl demo -dir /tmp/fecdemo -serve"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			var opts demo.Options
			fs.StringVar(&opts.Dir, "dir", "", "directory for the demo (default: a new temp directory, removed at the end)")
			fs.BoolVar(&opts.Serve, "serve", false, "keep serving the storage after the boot until Ctrl-C")
			fs.StringVar(&opts.Listen, "listen", "127.0.0.1:0", "address of the built-in server")
			return func(args []string) error {
				if err := cli.NArgs(args, 0, 0, "no arguments"); err != nil {
					return err
				}
				return demo.Run(e.ctx, opts, e.stdout)
			}
		},
	}
}

func newWriteShellClient(e *env) cli.Command {
	return cli.Command{
		Name: "write-shell-client", Args: "FILE", Summary: "Write fec-boot.sh (the busybox client for FECs without Go) to FILE, for an image.",
		Examples: []string{"fecctl write-shell-client rootfs/usr/sbin/fec-boot.sh"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return func(args []string) error {
				if err := cli.NArgs(args, 1, 1, "FILE"); err != nil {
					return err
				}
				return cli.WriteNew(args[0], client.Script, 0o755)
			}
		},
	}
}
