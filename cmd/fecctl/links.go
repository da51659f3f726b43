package main

import (
	"flag"
	"os"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// What a FEC gets: links to published versions, init scripts, its own files.

func init() { register(newLink, newUnlink, newAddScript, newLinkInit, newPut) }

func newLink(e *env) cli.Command {
	return cli.Command{
		Name: "link", Args: "FEC NAME VERSION", Summary: "Link a published software (or configuration) version to a FEC and reindex it.",
		Examples: []string{"fecctl link scu01 Foo_DU 1.2.0", "fecctl link -kind configuration scu01 Foo_DU-instance 1.2.0"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			kind := kindFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 3, 3, "FEC NAME VERSION"); err != nil {
					return err
				}
				return st.Link(e.ctx, args[0], index.Kind(*kind), args[1], args[2])
			})
		},
	}
}

func newUnlink(e *env) cli.Command {
	return cli.Command{
		Name: "unlink", Args: "FEC NAME", Summary: "Remove a software (or configuration) link from a FEC and reindex it.",
		Examples: []string{"fecctl unlink scu01 Foo_DU"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			kind := kindFlag(fs)
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 2, 2, "FEC NAME"); err != nil {
					return err
				}
				return st.Unlink(e.ctx, args[0], index.Kind(*kind), args[1])
			})
		},
	}
}

func newAddScript(e *env) cli.Command {
	return cli.Command{
		Name: "add-script", Args: "NAME FILE", Summary: "Add (or replace) a shared init script in fecs/global/.",
		Examples: []string{"fecctl add-script 10-network ./network.sh     # fecs/global/10-network; then fecctl link-init"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 2, 2, "NAME FILE"); err != nil {
					return err
				}
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				return st.AddGlobalScript(e.ctx, args[0], f)
			})
		},
	}
}

func newLinkInit(e *env) cli.Command {
	return cli.Command{
		Name: "link-init", Args: "FEC SCRIPT", Summary: "Link a FEC's init/<NN-name> to a shared script in fecs/global/.",
		Examples: []string{
			"fecctl add-script 10-network ./network.sh     # first the shared script: fecs/global/10-network",
			"fecctl link-init scu01 10-network             # init/10-network -> ../../global/10-network",
		},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 2, 2, "FEC SCRIPT"); err != nil {
					return err
				}
				return st.LinkInit(e.ctx, args[0], args[1])
			})
		},
	}
}

func newPut(e *env) cli.Command {
	return cli.Command{
		Name: "put", Args: "FEC NAME FILE",
		Summary: "Put a FEC's own file: an init script (-kind init), a configuration archive, or a\n" +
			"persistent-data snapshot (-kind data; only for a FEC that persists data, i.e. has\n" +
			"fecs/<FEC>/persistent-data/: fecctl add-fec -persistent, or mkdir it by hand).",
		Examples: []string{
			"fecctl put -kind init scu01 90-local ./local.sh",
			"fecctl put -kind configuration scu01 timing ./timing.tar.gz",
			"fecctl put -kind data scu02 settings ./settings.tar.gz   # persistent-data/settings.tar.gz",
		},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			kind := fs.String("kind", "init", "init, configuration or data")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 3, 3, "FEC NAME FILE"); err != nil {
					return err
				}
				f, err := os.Open(args[2])
				if err != nil {
					return err
				}
				defer f.Close()
				return st.PutFile(e.ctx, args[0], index.Kind(*kind), args[1], f)
			})
		},
	}
}
