package main

import (
	"flag"
	"os"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// Publishing from another host: fec-pack -storage ssh://writer/srv/web-storage
// runs this command on the writer host over ssh, with the archive on stdin.

func init() { register(newReceive) }

func newReceive(e *env) cli.Command {
	return cli.Command{
		Name: "receive", Summary: "Publish an archive arriving on stdin (run over ssh by fec-pack -storage ssh://...): size and sha256 checked, then published, linked and pruned as by fec-pack.",
		Examples: []string{"fecctl receive -name Foo_DU -version 1.2.0 -arch x86_64 -sha256 HEX -size N < Foo_DU.tar.zst"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			var req publish.ReceiveRequest
			kind := kindFlag(fs)
			asJSON := jsonFlag(fs)
			links := fs.String("link", "", "comma-separated FECs to link the release to")
			noPrune := fs.Bool("no-prune", false, "do not apply the retention plan after a productive release")
			fs.StringVar(&req.Name, "name", "", "software or configuration name")
			fs.StringVar(&req.Version, "version", "", "strict semver (1.2.0) or dev")
			fs.StringVar(&req.Arch, "arch", "", "architecture: x86_64, i686, ppc, ... or noarch")
			fs.StringVar(&req.SHA256, "sha256", "", "sha256 of the archive as sent")
			fs.Int64Var(&req.Size, "size", 0, "size of the archive as sent")
			fs.BoolVar(&req.Force, "force", false, "replace different bytes under an existing productive version (logged)")
			fs.IntVar(&req.Policy.Keep, "keep", version.DefaultKeep, "productive versions to keep when pruning")
			return withStorage(fs, func(st *storage.Storage, args []string) error {
				if err := cli.NArgs(args, 0, 0, "no arguments (the archive comes on stdin)"); err != nil {
					return err
				}
				req.Kind = index.Kind(*kind)
				req.Link = cli.SplitList(*links)
				req.Prune = !*noPrune
				req.Body = os.Stdin
				res, err := publish.Receive(e.ctx, st, req)
				if err != nil {
					return err
				}
				if *asJSON {
					return cli.PrintJSON(e.stdout, res)
				}
				return cli.PrintJSON(e.stdout, res.Published)
			})
		},
	}
}
