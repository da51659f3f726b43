// Command fec-pack packs a staged install tree and publishes it into the web
// storage: the release step of devacc's `make install` and FESA's yocto-fesa3.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

const usage = `Usage: fec-pack -name NAME -version VERSION -arch ARCH -prefix PREFIX [flags] SOURCE
       fec-pack -dev -to-fec FEC -name NAME -prefix PREFIX [flags] SOURCE

Packs SOURCE so that its content unpacks below PREFIX on a FEC (entry
paths are the unpack location), publishes the archive into the web storage
atomically (a productive version is immutable), links it to FECs (-link),
regenerates their INDEX and applies the retention plan (at most 3 productive
versions, never one in use) to the software just released.

Examples:
  fec-pack -storage /srv/web-storage -name Foo_DU -version 1.2.0 -arch x86_64 \
      -prefix opt/fesa/Foo_DU/1.2.0 -link fec01,fec02 ./staging
  fec-pack -name Foo_DU -version 1.2.0 -arch ppc -prefix opt/fesa/Foo_DU/1.2.0 ./staging-ppc   # gzip: ppc's default
  fec-pack -kind configuration -name Foo_DU-instance -version 1.2.0 -arch noarch \
      -prefix opt/fesa/Foo_DU/1.2.0/instance ./instance
  FECD_TOKEN=... fec-pack -service http://fecd:8080 -name Foo_DU -version 1.2.0 -arch x86_64 \
      -prefix opt/fesa/Foo_DU/1.2.0 -link fec01 ./staging   # through the release service
  fec-pack -output Foo_DU-dev.tar.zst -prefix opt/fesa/Foo_DU/dev ./staging   # pack only
  fec-pack -dev -to-fec scu01 -name Foo_DU -prefix opt/fesa/Foo_DU/dev ./staging
      # dev release: copied over ssh straight onto the FEC and installed there
  fec-pack -storage ssh://writer/srv/web-storage -name Foo_DU -version 1.2.0 -arch x86_64 \
      -prefix opt/fesa/Foo_DU/1.2.0 ./Foo_DU-1.2.0.zip
      # publish through fecctl on the writer host; any archive format as input

SOURCE is a directory or an archive (tar, tar.gz/bz2/xz/zst, zip, 7z, ...),
repacked into the canonical format with -prefix applied.

Exit codes: 0 ok; 1 other error; 2 usage or bad name/version; 3 not found
(no storage, unknown FEC); 4 refused (immutable version, architecture or
decoder mismatch, version in use, unknown ssh host key, unsafe input
archive); 5 storage busy (lock timeout).

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var err error
	fs := flag.NewFlagSet("fec-pack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var (
		req     publish.Request
		sf      cli.StorageFlags
		kind    = fs.String("kind", "software", "software or configuration")
		format  = fs.String("format", "", "zstd, gzip or xz (default: what every FEC of -arch's family reads: gzip for ppc\nand noarch, zstd otherwise; with -output, the file's extension)")
		links   = fs.String("link", "", "comma-separated FECs to link the release to")
		output  = fs.String("output", "", "only pack into this file; publish nothing")
		noPrune = fs.Bool("no-prune", false, "do not apply the retention plan after a productive release")
		asJSON  = fs.Bool("json", false, "print the result as JSON")
		quiet   = fs.Bool("quiet", false, "no progress output")
		svcURL  = fs.String("service", os.Getenv("FECD_URL"), "publish through the release service at this URL (fecd) instead of writing the storage ($FECD_URL)")
		svcTok  = fs.String("token", "", "the release service's token (default $FECD_TOKEN)")
		dev     = fs.Bool("dev", false, "dev release: version dev, copied with -to-fec straight onto one FEC, not into the web storage")
		toFEC   = fs.String("to-fec", "", "with -dev: the FEC (host name or ssh alias) to copy the dev release to")
		client  = fs.String("fec-client", cli.EnvOr("FECDEPLOY_FEC_CLIENT", "fec-boot"), "with -to-fec: the FEC's client command (fec-boot, fec-boot.sh, or a path with flags) ($FECDEPLOY_FEC_CLIENT)")
		fecTmp  = fs.String("fec-tmp", "/tmp", "with -to-fec: directory on the FEC for the copy before it is installed")
		sshConf = fs.String("ssh-config", os.Getenv("FECDEPLOY_SSH_CONFIG"), "ssh configuration file (ssh -F; default ~/.ssh/config) ($FECDEPLOY_SSH_CONFIG)")
		rFecctl = fs.String("remote-fecctl", cli.EnvOr("FECDEPLOY_REMOTE_FECCTL", "fecctl"), "with -storage ssh://...: the fecctl command on the writer host ($FECDEPLOY_REMOTE_FECCTL)")
	)
	sf.Register(fs)
	sf.Stderr, sf.Prog = stderr, "fec-pack"
	fs.StringVar(&req.Name, "name", "", "software or configuration name")
	fs.StringVar(&req.Version, "version", "", "strict semver (1.2.0) or dev")
	fs.StringVar(&req.Arch, "arch", "", "architecture: x86_64, i686, ppc, ... or noarch")
	fs.StringVar(&req.Prefix, "prefix", "", "unpack location relative to /, e.g. opt/fesa/Foo_DU/1.2.0")
	fs.IntVar(&req.Level, "level", 0, "compression level (0 = the format's default)")
	fs.BoolVar(&req.Force, "force", false, "replace different bytes under an existing productive version (logged)")
	fs.IntVar(&req.Policy.Keep, "keep", version.DefaultKeep, "productive versions to keep when pruning")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "fec-pack: want one SOURCE (directory or archive), got %d arguments (see fec-pack -help)\n", fs.NArg())
		return 2
	}
	req.SourceDir = fs.Arg(0)
	if *format != "" {
		f, err := index.ParseFormat(*format)
		if err != nil {
			fmt.Fprintf(stderr, "fec-pack: %v\n", err)
			return 2
		}
		req.Format = f
	} else if *output != "" {
		if _, f, ok := index.SplitExtension(filepath.Base(*output)); ok {
			req.Format = f
		}
	}
	req.Kind = index.Kind(*kind)
	req.Link = cli.SplitList(*links)
	req.Prune = !*noPrune
	if *dev && req.Version == "" {
		req.Version = index.DevVersion
	}
	req.Logger = sf.Logger()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Everything that can be checked is checked before packing: the storage
	// here, names, version, architecture, source and FECs in publish.Release.
	// A dev release goes to a FEC and -o to a file: neither needs the
	// storage; an ssh:// storage is checked on the writer host.
	remoteSSH, remoteDir, remote, err := publish.ParseStorageURL(sf.Dir)
	if err != nil {
		fmt.Fprintf(stderr, "fec-pack: %v\n", err)
		return cli.ExitCode(err)
	}
	var st *storage.Storage
	if *output == "" && !*dev && !remote {
		if st, err = sf.Open(); err != nil {
			fmt.Fprintf(stderr, "fec-pack: %v\n", err)
			return cli.ExitCode(err)
		}
	}

	var finish func()
	if !*quiet {
		size, _ := dirSize(req.SourceDir)
		var update func(int64)
		update, finish = cli.Progress(os.Stderr, "packing "+req.Name, size)
		req.Progress = update
	}
	done := func() {
		if finish != nil {
			finish()
		}
	}

	if *dev || *toFEC != "" {
		if !*dev || *toFEC == "" {
			done()
			fmt.Fprintf(stderr, "fec-pack: a dev release needs both -dev and -to-fec FEC (to publish version dev into the storage instead, use -version dev without -dev)\n")
			return 2
		}
		if req.Version != "" && req.Version != index.DevVersion {
			done()
			fmt.Fprintf(stderr, "fec-pack: -dev releases have version dev, not %q\n", req.Version)
			return 2
		}
		res, err := publish.DevRelease(ctx, publish.DevRequest{Request: req, SSH: publish.SSH{Host: *toFEC, ConfigFile: *sshConf},
			Client: *client, TempDir: *fecTmp})
		done()
		if err != nil {
			fmt.Fprintf(stderr, "fec-pack: %v\n", err)
			return cli.ExitCode(err)
		}
		if *asJSON {
			_ = cli.PrintJSON(stdout, res)
			return 0
		}
		fmt.Fprintf(stdout, "dev release %s (%s, sha256 %s) sent to %s\n", req.Name, cli.HumanBytes(res.Pack.Size), res.Pack.SHA256, *toFEC)
		fmt.Fprint(stdout, res.Output)
		return 0
	}

	if *output != "" {
		stats, err := publish.PackInput(ctx, *output, req)
		done()
		if err != nil {
			fmt.Fprintf(stderr, "fec-pack: %v\n", err)
			return cli.ExitCode(err)
		}
		if *asJSON {
			_ = cli.PrintJSON(stdout, stats)
		} else {
			fmt.Fprintf(stdout, "packed %s: %d files, %s, sha256 %s\n", *output, stats.Files, cli.HumanBytes(stats.Size), stats.SHA256)
		}
		return 0
	}

	var res publish.Result
	if *svcURL != "" {
		tok := *svcTok
		if tok == "" {
			tok = os.Getenv("FECD_TOKEN")
		}
		res, err = publish.ReleaseVia(ctx, publish.Service{URL: *svcURL, Token: tok}, req)
	} else if remote {
		remoteSSH.ConfigFile = *sshConf
		res, err = publish.RemoteRelease(ctx, publish.RemoteRequest{Request: req, SSH: remoteSSH, Dir: remoteDir, Fecctl: *rFecctl})
	} else {
		res, err = publish.Release(ctx, st, req)
	}
	done()
	if err != nil {
		fmt.Fprintf(stderr, "fec-pack: %v\n", err)
		return cli.ExitCode(err)
	}
	if *asJSON {
		_ = cli.PrintJSON(stdout, res)
		return 0
	}
	state := "published"
	if res.Published.Unchanged {
		state = "unchanged (identical bytes already published)"
	}
	fmt.Fprintf(stdout, "%s %s: %s, sha256 %s\n", state, res.Published.Path, cli.HumanBytes(res.Published.Size), res.Published.SHA256)
	for _, fec := range res.Linked {
		fmt.Fprintf(stdout, "linked to %s\n", fec)
	}
	if res.Prune != nil {
		for _, d := range res.Prune.Removed {
			fmt.Fprintf(stdout, "pruned %s %s: %s\n", d.Software, d.Version, d.Text)
		}
		for _, sk := range res.Prune.Skipped {
			fmt.Fprintf(stdout, "kept %s %s: %s\n", sk.Software, sk.Version, sk.Why)
		}
		for _, w := range res.Prune.Plan.Warnings {
			fmt.Fprintf(stderr, "fec-pack: warning: %s\n", w.Text)
		}
	}
	return 0
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}
