// Command fec-boot boots a FEC from the web storage: it fetches
// fecs/<FEC>/INDEX, installs the archives it names and runs the init scripts.
// All the work is fec.Boot / fec.Install; see docs/boot.md.
//
//	fec-boot [flags]                     boot: install everything, run the init scripts
//	fec-boot install [flags] [kind...]   install archives only (called by init scripts)
//	fec-boot install-archive FILE -sha256 HEX -name NAME   install a dev release
//	fec-boot dev ls|rm NAME                   list or remove dev releases
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/progress"
)

// isTerminal tells whether fec-boot draws a progress bar on w (a test replaces it).
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && progress.IsTerminal(f)
}

// testClock is set only in a binary built with -tags fectestclock
// (testclock.go): it gives the trust tests a FEC clock at 1970 or 2038.
var testClock func(getenv func(string) string) (func() time.Time, error)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  fec-boot [boot] [flags]             fetch the INDEX, install every archive, run the init scripts
  fec-boot install [flags] [kind...]  install archives only (kinds: software, configuration, data)
  fec-boot install-archive FILE -sha256 HEX -name NAME [-version dev] [-prefix DIR] [flags]
                                      install a dev release copied onto this FEC, verified and
                                      atomic as at boot; recorded as a dev release
  fec-boot dev ls [-json] [flags]     list the dev releases installed on this FEC
  fec-boot dev rm NAME [flags]        remove a dev release (its prefix directory and record)

Examples:
  fec-boot --url http://storage.example/ --fec scu01     boot this FEC as scu01
  fec-boot                                    boot with the settings of the kernel command
                                              line (fecdeploy.url=) and /etc/fecdeploy.conf
  fec-boot --dry-run --root /tmp/fecroot      show what would be installed, under /tmp/fecroot
  fec-boot install software                   (from an init script) install the software only
  FECDEPLOY_URL=http://storage.example/ fec-boot --retries 0 --start-jitter 0
                                              one quick attempt, e.g. by hand on a console

On a terminal, the downloads show a progress bar on stderr.

Settings, in decreasing precedence: flags, environment, kernel command line
(fecdeploy.url=, fecdeploy.fec=), /etc/fecdeploy.conf (key=value), defaults.

Flags [environment variable, kernel parameter, configuration key]:
`)
	flagUsage(w)
	fmt.Fprint(w, `
Exit codes (when several problems occur, the lowest non-zero code wins):
  0  everything installed and every init script succeeded
  2  configuration or usage error
  3  storage unreachable, or no INDEX for this FEC (404)
  4  verification failure: INDEX signature, sha256/size of a download, unsafe archive
  5  install failure: an archive could not be downloaded or unpacked
  6  init script failure: non-zero exit, timeout, not executable

See docs/boot.md.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	sub := "boot"
	if sub, rest, ok := devCommand(args); ok {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runDev(ctx, sub, rest, stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "boot" || args[0] == "install") {
		sub, args = args[0], args[1:]
	}
	cfg, rest, err := loadConfig(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "fec-boot: %v\n", err)
		return fec.ExitCode(err)
	}
	if sub == "boot" && len(rest) > 0 && rest[0] == "install" {
		sub, rest = "install", rest[1:]
	}
	var kinds []index.Kind
	switch {
	case sub == "boot" && len(rest) > 0:
		fmt.Fprintf(stderr, "fec-boot: unexpected argument %q (see fec-boot --help)\n", rest[0])
		return fec.ExitConfig
	case sub == "install":
		for _, k := range rest {
			kinds = append(kinds, index.Kind(k))
		}
	}
	if testClock != nil {
		if cfg.Now, err = testClock(os.Getenv); err != nil {
			fmt.Fprintf(stderr, "fec-boot: %v\n", err)
			return fec.ExitConfig
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(fec.MemoryLimit) // a FEC has little RAM
	}
	logTo := stderr
	var bar *progress.Bar
	if isTerminal(stderr) {
		// A bar for the downloads; log lines go through it so they stay clean.
		bar = progress.New(stderr, true, "fec-boot: downloading", 0)
		logTo = bar.Writer(stderr)
		cfg.Progress = func(ev fec.Event) {
			if ev.Phase == "download" {
				bar.Part(string(ev.Kind)+"/"+ev.Name, ev.Bytes, ev.Total)
			}
		}
	}
	cfg.Logger = newLogger(logTo)
	cfg.ScriptOutput = stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var st *fec.Status
	if sub == "install" {
		st, err = fec.Install(ctx, cfg, kinds...)
	} else {
		st, err = fec.Boot(ctx, cfg)
	}
	if bar != nil {
		bar.Finish()
	}
	if st != nil && st.FEC != "" {
		_ = st.WriteSummary(stdout) // names every failure
	} else if err != nil {
		fmt.Fprintf(stderr, "fec-boot: %v\n", err)
	}
	return fec.ExitCode(err)
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
