package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/demo"
	"github.com/fair-acc/fecdeploy/internal/serve"
	"github.com/fair-acc/fecdeploy/storage"
)

func commands(ctx context.Context, stdout, stderr io.Writer) []cli.Command {
	// withStorage declares the storage flags and opens the storage before run.
	withStorage := func(fs *flag.FlagSet, run func(st *storage.Storage, args []string) error) func([]string) error {
		var sf cli.StorageFlags
		sf.Register(fs)
		return func(args []string) error {
			st, err := sf.Open()
			if err != nil {
				return err
			}
			return run(st, args)
		}
	}
	kindFlag := func(fs *flag.FlagSet) *string {
		return fs.String("kind", "software", "software or configuration")
	}
	return []cli.Command{
		{
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
					fmt.Fprintf(stdout, "initialized web storage %s\n", st.Base())
					return nil
				}
			},
		},
		{
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
					return st.AddFEC(ctx, args[0], storage.FECConfig{Arch: *arch, Decoders: cli.SplitList(*dec), Persistent: *persistent})
				})
			},
		},
		{
			Name: "link", Args: "FEC NAME VERSION", Summary: "Link a published software (or configuration) version to a FEC and reindex it.",
			Examples: []string{"fecctl link scu01 Foo_DU 1.2.0", "fecctl link -kind configuration scu01 Foo_DU-instance 1.2.0"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				kind := kindFlag(fs)
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 3, 3, "FEC NAME VERSION"); err != nil {
						return err
					}
					return st.Link(ctx, args[0], index.Kind(*kind), args[1], args[2])
				})
			},
		},
		{
			Name: "unlink", Args: "FEC NAME", Summary: "Remove a software (or configuration) link from a FEC and reindex it.",
			Examples: []string{"fecctl unlink scu01 Foo_DU"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				kind := kindFlag(fs)
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 2, 2, "FEC NAME"); err != nil {
						return err
					}
					return st.Unlink(ctx, args[0], index.Kind(*kind), args[1])
				})
			},
		},
		{
			Name: "add-script", Args: "NAME FILE", Summary: "Add (or replace) a shared init script in fecs/global/.",
			Examples: []string{"fecctl add-script network ./network.sh"},
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
					return st.AddGlobalScript(ctx, args[0], f)
				})
			},
		},
		{
			Name: "link-init", Args: "FEC SCRIPT", Summary: "Link a FEC's init/<NN-name> to a shared script in fecs/global/.",
			Examples: []string{"fecctl link-init scu01 10-network     # init/10-network -> ../../global/network"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 2, 2, "FEC SCRIPT"); err != nil {
						return err
					}
					return st.LinkInit(ctx, args[0], args[1])
				})
			},
		},
		{
			Name: "put", Args: "FEC NAME FILE", Summary: "Put a FEC's own file: an init script (-kind init) or a configuration archive.",
			Examples: []string{"fecctl put -kind init scu01 90-local ./local.sh", "fecctl put -kind configuration scu01 timing ./timing.tar.gz"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				kind := fs.String("kind", "init", "init or configuration")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 3, 3, "FEC NAME FILE"); err != nil {
						return err
					}
					f, err := os.Open(args[2])
					if err != nil {
						return err
					}
					defer f.Close()
					return st.PutFile(ctx, args[0], index.Kind(*kind), args[1], f)
				})
			},
		},
		{
			Name: "ls", Summary: "List the FECs: architecture, decoders and what each gets.",
			Examples: []string{"fecctl ls", "fecctl ls -json"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				asJSON := fs.Bool("json", false, "JSON output")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 0, 0, "no arguments"); err != nil {
						return err
					}
					infos, err := fecInfos(st)
					if err != nil {
						return err
					}
					if *asJSON {
						return cli.PrintJSON(stdout, infos)
					}
					tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "FEC\tARCH\tDECODERS\tSOFTWARE")
					for _, in := range infos {
						var sw []string
						for _, e := range in.Entries {
							if e.Kind == index.KindSoftware {
								sw = append(sw, e.Name+"@"+e.Version+devMark(e))
							}
						}
						if in.Error != "" {
							sw = []string{"ERROR: " + in.Error}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Name, in.Arch, strings.Join(in.Decoders, ","), strings.Join(sw, " "))
					}
					return tw.Flush()
				})
			},
		},
		{
			Name: "show", Args: "FEC", Summary: "Show what a FEC gets: every entry of its INDEX, resolved.",
			Examples: []string{"fecctl show scu01", "fecctl show -json scu01"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				asJSON := fs.Bool("json", false, "JSON output")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 1, 1, "FEC"); err != nil {
						return err
					}
					info, err := st.FEC(args[0])
					if err != nil {
						return err
					}
					out := toFECView(info)
					if *asJSON {
						if err := cli.PrintJSON(stdout, out); err != nil {
							return err
						}
					} else {
						fmt.Fprintf(stdout, "FEC %s (arch %s, decoders %s)\n", out.Name, out.Arch, strings.Join(out.Decoders, ","))
						tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tSIZE\tPATH")
						for _, e := range out.Entries {
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Name, e.Version+devMark(e), cli.HumanBytes(e.Size), e.Path)
						}
						tw.Flush()
					}
					return info.IndexError
				})
			},
		},
		{
			Name: "who-uses", Args: "SOFTWARE [VERSION]", Summary: "List the FECs that link a software (or one version of it).",
			Examples: []string{"fecctl who-uses Foo_DU", "fecctl who-uses -json Foo_DU 1.2.0"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				asJSON := fs.Bool("json", false, "JSON output")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 1, 2, "SOFTWARE [VERSION]"); err != nil {
						return err
					}
					ver := ""
					if len(args) == 2 {
						ver = args[1]
					}
					uses, err := st.Uses(args[0], ver)
					if err != nil {
						return err
					}
					if *asJSON {
						return cli.PrintJSON(stdout, uses)
					}
					if len(uses) == 0 {
						fmt.Fprintf(stdout, "no FEC links %s %s\n", args[0], ver)
						return nil
					}
					tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "FEC\tSOFTWARE\tVERSION\tTARGET")
					for _, u := range uses {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.FEC, u.Software, u.Version, u.Target)
					}
					return tw.Flush()
				})
			},
		},
		{
			Name: "switch", Args: "FEC SOFTWARE VERSION | -all-fecs SOFTWARE VERSION",
			Summary:  "Switch a FEC (or every FEC using the software) to another published version, atomically.",
			Examples: []string{"fecctl switch scu01 Foo_DU 1.2.0", "fecctl switch -all-fecs Foo_DU 1.2.0"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				all := fs.Bool("all-fecs", false, "switch every FEC that links the software")
				asJSON := fs.Bool("json", false, "JSON output")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					var results []storage.SwitchResult
					if *all {
						if err := cli.NArgs(args, 2, 2, "SOFTWARE VERSION with -all-fecs"); err != nil {
							return err
						}
						r, err := st.SwitchAll(ctx, args[0], args[1])
						if err != nil {
							return err
						}
						results = r
					} else {
						if err := cli.NArgs(args, 3, 3, "FEC SOFTWARE VERSION"); err != nil {
							return err
						}
						r, err := st.Switch(ctx, args[0], args[1], args[2])
						if err != nil {
							return err
						}
						results = []storage.SwitchResult{r}
					}
					return printSwitches(stdout, results, *asJSON)
				})
			},
		},
		{
			Name: "rollback", Args: "FEC SOFTWARE", Summary: "Switch a FEC back to the previous productive version still kept.",
			Examples: []string{"fecctl rollback scu01 Foo_DU"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				asJSON := fs.Bool("json", false, "JSON output")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 2, 2, "FEC SOFTWARE"); err != nil {
						return err
					}
					r, err := st.Rollback(ctx, args[0], args[1])
					if err != nil {
						return err
					}
					return printSwitches(stdout, []storage.SwitchResult{r}, *asJSON)
				})
			},
		},
		{
			Name: "reindex", Args: "[FEC...]", Summary: "Regenerate INDEX (and INDEX.sig) of the given FECs, or of all.",
			Examples: []string{"fecctl reindex", "fecctl reindex scu01 scu02"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					return st.Reindex(ctx, args...)
				})
			},
		},
		{
			Name: "verify", Summary: "Check the storage: stale indexes, dangling links, missing or altered archives, arch mismatches, bad names, unknown files.",
			Examples: []string{"fecctl verify", "fecctl verify -json", "fecctl verify -clean   # first remove what killed writers left behind"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				asJSON := fs.Bool("json", false, "JSON output")
				clean := fs.Bool("clean", false, "remove temp files of killed writers first")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 0, 0, "no arguments"); err != nil {
						return err
					}
					if *clean {
						removed, err := st.Clean(ctx)
						if err != nil {
							return err
						}
						for _, p := range removed {
							fmt.Fprintf(stderr, "cleaned %s\n", p)
						}
					}
					rep, err := st.Verify(ctx)
					if err != nil {
						return err
					}
					if *asJSON {
						if err := cli.PrintJSON(stdout, rep); err != nil {
							return err
						}
					} else {
						for _, p := range rep.Problems {
							fmt.Fprintln(stdout, p.String())
						}
						fmt.Fprintf(stdout, "checked %d FECs, %d archives, %d entries: %d problems\n", rep.FECs, rep.Archives, rep.Entries, len(rep.Problems))
					}
					if !rep.OK() {
						return fmt.Errorf("%w: %d", cli.ErrProblems, len(rep.Problems))
					}
					return nil
				})
			},
		},
		{
			Name: "keygen", Args: "PREFIX", Summary: "Create an ed25519 key pair for INDEX signatures: PREFIX.key (0600) and PREFIX.pub.",
			Examples: []string{
				"fecctl keygen /etc/fecdeploy/signing   # signing.key stays on the writer host; signing.pub goes to every FEC",
			},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				return func(args []string) error {
					if err := cli.NArgs(args, 1, 1, "PREFIX"); err != nil {
						return err
					}
					priv, pub, err := index.GenerateKey()
					if err != nil {
						return err
					}
					if err := writeNew(args[0]+".key", priv, 0o600); err != nil {
						return err
					}
					if err := writeNew(args[0]+".pub", pub, 0o644); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "wrote %s.key (keep it on the writer host) and %s.pub (install it on the FECs)\n", args[0], args[0])
					return nil
				}
			},
		},
		{
			Name: "sign", Args: "[FEC...]", Summary: "Sign the INDEX of the given FECs (or all) with the signing key.",
			Examples: []string{"fecctl sign -sign-key /etc/fecdeploy/signing.key", "fecctl sign scu01"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				var sf cli.StorageFlags
				sf.Register(fs)
				return func(args []string) error {
					key, err := cli.LoadSigningKey(sf.SignKey)
					if err != nil {
						return err
					}
					if key == nil {
						return cli.Usagef("no signing key: give -sign-key FILE or $FECDEPLOY_SIGNING_KEY, or create %s with fecctl keygen", cli.DefaultSigningKey)
					}
					st, err := sf.Open()
					if err != nil {
						return err
					}
					return st.Reindex(ctx, args...)
				}
			},
		},
		{
			Name: "unsign", Args: "[FEC...]", Summary: "Stop signing: remove INDEX.sig of the given FECs (or all). Remove the FECs' public keys first, or they refuse to boot.",
			Examples: []string{"fecctl unsign scu01"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					removed, err := st.Unsign(ctx, args...)
					for _, p := range removed {
						fmt.Fprintf(stdout, "removed %s\n", p)
					}
					return err
				})
			},
		},
		{
			Name: "serve", Summary: "Serve the storage read-only over HTTP (demos, tests, small labs; production uses nginx).",
			Examples: []string{"fecctl serve -storage /srv/web-storage -listen 0.0.0.0:8080"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
				return withStorage(fs, func(st *storage.Storage, args []string) error {
					if err := cli.NArgs(args, 0, 0, "no arguments"); err != nil {
						return err
					}
					srv, err := serve.Start(ctx, *listen, st.Base(), nil)
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "serving %s on %s (Ctrl-C stops)\n", st.Base(), srv.URL)
					return srv.Wait()
				})
			},
		},
		{
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
					return demo.Run(ctx, opts, stdout)
				}
			},
		},
		{
			Name: "write-shell-client", Args: "FILE", Summary: "Write fec-boot.sh (the busybox client for FECs without Go) to FILE, for an image.",
			Examples: []string{"fecctl write-shell-client rootfs/usr/sbin/fec-boot.sh"},
			Flags: func(fs *flag.FlagSet) func([]string) error {
				return func(args []string) error {
					if err := cli.NArgs(args, 1, 1, "FILE"); err != nil {
						return err
					}
					return writeNew(args[0], client.Script, 0o755)
				}
			},
		},
	}
}

func devMark(e index.Entry) string {
	if e.Dev {
		return " (dev)"
	}
	return ""
}

// fecView is what ls and show print.
type fecView struct {
	Name     string        `json:"fec"`
	Arch     string        `json:"arch"`
	Decoders []string      `json:"decoders"`
	Entries  []index.Entry `json:"entries"`
	Error    string        `json:"error,omitempty"`
}

func toFECView(in storage.FECInfo) fecView {
	v := fecView{Name: in.Name, Arch: in.Config.Arch, Decoders: in.Config.Decoders, Entries: in.Entries}
	if in.IndexError != nil {
		v.Error = in.IndexError.Error()
	}
	return v
}

func fecInfos(st *storage.Storage) ([]fecView, error) {
	names, err := st.FECs()
	if err != nil {
		return nil, err
	}
	out := make([]fecView, 0, len(names))
	for _, n := range names {
		info, err := st.FEC(n)
		if err != nil {
			return nil, err
		}
		out = append(out, toFECView(info))
	}
	return out, nil
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

// writeNew writes a file that must not exist yet (keys are never overwritten).
func writeNew(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("%w (refusing to overwrite)", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
