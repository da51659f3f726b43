package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fair-acc/fecdeploy/fec"
)

// The dev-release commands:
//
//	fec-boot install-archive FILE -sha256 HEX -name NAME [-version dev] [-prefix P] [flags]
//	fec-boot dev ls [-json] [flags]
//	fec-boot dev rm NAME [flags]

// devFlags are the flags of install-archive, taken out of args before the
// shared settings are parsed.
var devFlags = map[string]bool{"sha256": true, "name": true, "version": true, "prefix": true, "json": false}

// splitArgs separates the positional arguments from the flags (which may
// come after them, as in "install-archive FILE -sha256 …"), and takes out
// the dev flags.
func splitArgs(args []string) (pos, flags []string, extra map[string]string, err error) {
	takesValue := map[string]bool{"conf": true, "cmdline": true}
	for _, s := range fec.Settings() {
		takesValue[s.Flag] = !s.IsBool
	}
	extra = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if v, ok := devFlags[name]; ok {
			switch {
			case !v:
				extra[name] = "true"
			case hasVal:
				extra[name] = val
			case i+1 < len(args):
				extra[name] = args[i+1]
				i++
			default:
				return nil, nil, nil, fmt.Errorf("%w: flag needs an argument: -%s", fec.ErrConfig, name)
			}
			continue
		}
		flags = append(flags, a)
		if takesValue[name] && !hasVal && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return pos, flags, extra, nil
}

// devCommand finds install-archive or dev as the first argument that is
// not a flag or a flag's value (flags may come first: "fec-boot --root /x
// install-archive FILE ...") and returns the arguments without it.
func devCommand(args []string) (string, []string, bool) {
	pos, _, _, err := splitArgs(args)
	if err != nil || len(pos) == 0 || (pos[0] != "install-archive" && pos[0] != "dev") {
		return "", nil, false
	}
	for i, a := range args {
		if a == pos[0] {
			return a, append(append([]string(nil), args[:i]...), args[i+1:]...), true
		}
	}
	return "", nil, false
}

func runDev(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) int {
	pos, flags, extra, err := splitArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "fec-boot: %v\n", err)
		return fec.ExitConfig
	}
	cfg, rest, err := loadConfig(flags, os.Getenv)
	if err == nil && len(rest) > 0 {
		pos = append(pos, rest...)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fec-boot: %v\n", err)
		return fec.ExitCode(err)
	}
	cfg.Logger = newLogger(stderr)
	if sub == "dev" {
		if len(pos) == 0 {
			fmt.Fprintf(stderr, "fec-boot: dev needs ls or rm NAME (see fec-boot --help)\n")
			return fec.ExitConfig
		}
		sub, pos = "dev "+pos[0], pos[1:]
	}
	switch sub {
	case "install-archive":
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "fec-boot: install-archive wants one FILE, got %d arguments (fec-boot install-archive FILE -sha256 HEX -name NAME)\n", len(pos))
			return fec.ExitConfig
		}
		es, err := fec.InstallArchive(ctx, cfg, fec.ArchiveRequest{File: pos[0], SHA256: extra["sha256"], Name: extra["name"], Version: extra["version"], Prefix: extra["prefix"]})
		if err != nil {
			fmt.Fprintf(stderr, "fec-boot: install-archive %s: %v\n", pos[0], err)
			return fec.ExitCode(err)
		}
		fmt.Fprintf(stdout, "installed %s %s (dev release, sha256 %s, %d bytes, %dms)\n", es.Name, es.Version, es.SHA256, es.Bytes, es.DurationMS)
		return 0
	case "dev ls":
		devs, err := fec.DevReleases(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "fec-boot: %v\n", err)
			return fec.ExitCode(err)
		}
		if extra["json"] != "" {
			if devs == nil {
				devs = []fec.DevRelease{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(devs)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tSHA256\tINSTALLED\tPREFIX")
		for _, d := range devs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Version, d.SHA256[:min(12, len(d.SHA256))], d.Installed.Format(time.RFC3339), d.Prefix)
		}
		tw.Flush()
		return 0
	case "dev rm":
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "fec-boot: dev rm wants one NAME\n")
			return fec.ExitConfig
		}
		d, err := fec.RemoveDev(cfg, pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "fec-boot: dev rm %s: %v\n", pos[0], err)
			return fec.ExitCode(err)
		}
		fmt.Fprintf(stdout, "removed dev release %s %s%s\n", d.Name, d.Version, map[bool]string{true: " (" + d.Prefix + ")", false: ""}[d.Prefix != ""])
		return 0
	}
	fmt.Fprintf(stderr, "fec-boot: unknown command %q\n", sub)
	return fec.ExitConfig
}
