// Command fec-prune applies the retention plan to the web storage: at most
// -keep productive versions of each software, never one a FEC links to,
// and a grace period for versions unlinked or published recently. A dry run
// (printing the plan) unless -apply. The work is storage.PlanPrune and
// storage.Prune; the rules are version.NewPlan's. See docs/operations.md.
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
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

const usage = `Usage: fec-prune [flags]

Prints the retention plan for every software in the web storage (or one,
with -software): for each version keep or remove, and why. Nothing is
removed without -apply; then the plan is checked again under the storage
lock (a version linked or published meanwhile is kept) and carried out.

Rules: a version any FEC links to (links resolved by path) is kept; the
-keep newest productive versions (not dev, not a prerelease) are kept;
prereleases newer than the newest productive version are kept (at most
-keep of them); dev is kept (unless -prune-dev); a version unlinked or
published less than -grace ago is kept; everything else is removed.

Examples:
  fec-prune                                   # what would go, everywhere
  fec-prune -software Foo_DU -verbose       # the whole plan for one software
  fec-prune -apply                           # remove what the plan says
  fec-prune -apply -keep 5 -grace 48h -json
  fec-prune -grace 0 -prune-dev             # no grace period; unlinked dev releases go too

Exit codes: 0 ok (warnings are printed, the exit code stays 0 unless
-fail-on-warnings); 1 other error; 2 usage; 3 no storage or no such
software; 5 storage lock not taken within -wait, or interrupted;
6 warnings with -fail-on-warnings.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// output is the -json document.
type output struct {
	DryRun     bool               `json:"dry_run"`
	Plan       version.Plan       `json:"plan"`
	Removed    []version.Decision `json:"removed"`
	Skipped    []storage.Skipped  `json:"skipped,omitempty"`
	FreedBytes int64              `json:"freed_bytes"`
	Warnings   []version.Warning  `json:"warnings,omitempty"`
	Error      string             `json:"error,omitempty"`
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fec-prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var (
		store    = fs.String("storage", envOr("FECDEPLOY_STORAGE", "/srv/web-storage"), "web storage directory ($FECDEPLOY_STORAGE)")
		software = fs.String("software", "", "prune only this software (default: every software)")
		apply    = fs.Bool("apply", false, "remove what the plan says (default: dry run)")
		asJSON   = fs.Bool("json", false, "print the plan (and with -apply the report) as JSON")
		keep     = fs.Int("keep", version.DefaultKeep, "newest productive versions to keep besides linked ones (≥ 1)")
		grace    = fs.Duration("grace", version.DefaultGrace, "keep versions unlinked or published less than this ago (0 = no grace period)")
		pre      = fs.Bool("prereleases", false, "count prereleases as productive versions")
		pruneDev = fs.Bool("prune-dev", false, "also remove unlinked dev releases outside the grace period")
		verbose  = fs.Bool("verbose", false, "list kept versions too, and log each removal")
		wait     = fs.Duration("wait", 2*time.Minute, "how long -apply waits for the storage lock")
		strict   = fs.Bool("fail-on-warnings", false, "exit 6 when the plan has warnings (for monitoring)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return cli.ExitUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "fec-prune: unexpected argument %q (see fec-prune -help)\n", fs.Arg(0))
		return cli.ExitUsage
	case *keep < 1:
		fmt.Fprintf(stderr, "fec-prune: -keep %d: keep at least 1 productive version\n", *keep)
		return cli.ExitUsage
	case *grace < 0:
		fmt.Fprintf(stderr, "fec-prune: -grace %v: must not be negative (0 = no grace period)\n", *grace)
		return cli.ExitUsage
	}
	pol := version.Policy{Keep: *keep, Grace: *grace, IncludePrereleases: *pre, PruneDev: *pruneDev}
	if *grace == 0 {
		pol.Grace = version.NoGrace
	}

	var opts []storage.Option
	if *verbose {
		opts = append(opts, storage.WithLogger(slog.New(slog.NewTextHandler(stderr, nil))))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "fec-prune: %v\n", err)
		return cli.ExitCode(err)
	}
	st, err := storage.Open(*store, opts...)
	if err != nil {
		return fail(err)
	}
	plan, err := st.PlanPrune(ctx, *software, pol, time.Now())
	if err != nil {
		return fail(err)
	}
	out := output{DryRun: !*apply, Plan: plan, Removed: []version.Decision{}}
	var pruneErr error
	if *apply {
		actx, cancel := context.WithTimeout(ctx, *wait)
		rep, err := st.Prune(actx, plan)
		cancel()
		out.Plan, out.Removed, out.Skipped, out.FreedBytes = rep.Plan, rep.Removed, rep.Skipped, rep.FreedBytes
		pruneErr = err
	}
	out.Warnings = out.Plan.Warnings
	if pruneErr != nil {
		out.Error = pruneErr.Error()
	}

	if *asJSON {
		if err := cli.PrintJSON(stdout, out); err != nil {
			return fail(err)
		}
	} else {
		printText(stdout, out, *verbose)
	}
	for _, w := range out.Warnings {
		fmt.Fprintf(stderr, "fec-prune: warning: %s: %s\n", w.Software, w.Text)
	}
	if pruneErr != nil {
		return fail(pruneErr)
	}
	if *strict && len(out.Warnings) > 0 {
		return cli.ExitProblems
	}
	return cli.ExitOK
}

func printText(w io.Writer, out output, verbose bool) {
	if out.DryRun {
		p := out.Plan
		p.Warnings = nil // printed on stderr
		_ = p.WriteText(w, verbose)
		if n := len(p.Removals()); n > 0 {
			fmt.Fprintf(w, "dry run: nothing removed; run with -apply to remove %d version(s)\n", n)
		}
		return
	}
	if verbose {
		for _, sp := range out.Plan.Software {
			for _, d := range sp.Versions {
				if d.Action == version.Keep {
					fmt.Fprintf(w, "kept    %s %s: %s\n", d.Software, d.Version, d.Text)
				}
			}
		}
	}
	for _, d := range out.Removed {
		fmt.Fprintf(w, "removed %s %s: %s\n", d.Software, d.Version, d.Text)
	}
	for _, s := range out.Skipped {
		fmt.Fprintf(w, "skipped %s %s: %s\n", s.Software, s.Version, s.Why)
	}
	fmt.Fprintf(w, "%d version(s) removed, %s freed\n", len(out.Removed), cli.HumanBytes(out.FreedBytes))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
