package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/fair-acc/fecdeploy/fec"
)

// loadConfig parses fec-boot's flags in args and reads the other sources
// through fec.ReadConfig: flags > environment (getenv; nil means none) >
// kernel command line (--cmdline, FECDEPLOY_CMDLINE, /proc/cmdline) >
// configuration file (--conf, FECDEPLOY_CONF, /etc/fecdeploy.conf) >
// defaults. It returns the arguments left after the flags. -h/--help gives
// flag.ErrHelp; every other error wraps fec.ErrConfig.
func loadConfig(args []string, getenv func(string) string) (fec.Config, []string, error) {
	fs := flag.NewFlagSet("fec-boot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	strs := map[string]*string{}
	bools := map[string]*bool{}
	for _, s := range fec.Settings() {
		if s.IsBool {
			bools[s.Flag] = fs.Bool(s.Flag, false, s.Doc)
		} else {
			strs[s.Flag] = fs.String(s.Flag, "", s.Doc)
		}
	}
	conf := fs.String("conf", "", "configuration file (default "+fec.DefaultConfPath+")")
	cmdline := fs.String("cmdline", "", "kernel command line file (default "+fec.DefaultCmdlinePath+"; 'none' to ignore)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return fec.Config{}, nil, err
		}
		return fec.Config{}, nil, fmt.Errorf("%w: %v (see fec-boot --help)", fec.ErrConfig, err)
	}
	vals := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range fec.Settings() {
			switch {
			case s.Flag != f.Name:
			case s.IsBool:
				vals[s.Key] = strconv.FormatBool(*bools[s.Flag])
			default:
				vals[s.Key] = *strs[s.Flag]
			}
		}
	})
	cfg, err := fec.ReadConfig(fec.Sources{Values: vals, Getenv: getenv, ConfPath: *conf, CmdlinePath: *cmdline})
	if err != nil {
		return fec.Config{}, nil, err
	}
	return cfg, fs.Args(), nil
}

// flagUsage writes the flag list to w.
func flagUsage(w io.Writer) {
	for _, s := range fec.Settings() {
		arg := " VALUE"
		if s.IsBool {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s%s\n    \t%s [%s", s.Flag, arg, s.Doc, s.Env)
		if s.Cmdline != "" {
			fmt.Fprintf(w, ", %s=", s.Cmdline)
		}
		fmt.Fprintf(w, ", %s=]\n", s.Key)
	}
	fmt.Fprintf(w, "  --conf FILE\n    \tconfiguration file (default %s) [FECDEPLOY_CONF]\n", fec.DefaultConfPath)
	fmt.Fprintf(w, "  --cmdline FILE\n    \tkernel command line (default %s, 'none' ignores it) [FECDEPLOY_CMDLINE]\n", fec.DefaultCmdlinePath)
}
