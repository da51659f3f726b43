// Command fec-persist pulls the persistent data of FECs into the web
// storage: for every FEC with a persistent-data/ folder (or the FECs named),
// each data set declared in its datasets.conf is streamed over ssh (busybox
// tar on the FEC), checked, compressed and stored as a new generation that
// the FEC's INDEX names. Run it from a systemd timer or cron on the writer
// host (examples/persist/). The work is persist.Run; see docs/persistence.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/persist"
	"github.com/fair-acc/fecdeploy/storage"
)

const usage = `Usage: fec-persist [flags] [FEC...]

Pulls the declared persistent data of every FEC that has a persistent-data/
folder (or of the FECs named) over ssh and stores each data set as a new
snapshot generation; the FEC restores the newest at its next boot. A FEC
that is down, unreachable or times out keeps its previous snapshot and is
retried at the next run; so does a data set that is missing or empty on
the FEC (a FEC that rebooted and has not restored yet), unless -allow-empty.

ssh is the system OpenSSH client: your keys, known_hosts, jump hosts and
~/.ssh/config apply (-ssh-config FILE uses another file); BatchMode is on,
so an unknown or changed host key fails the FEC instead of prompting.

Examples:
  fec-persist                              # every FEC with persistent-data/
  fec-persist -parallel 16 -json           # one JSON object per FEC
  fec-persist scu01 scu02                  # only these
  fec-persist -ssh-config /etc/fecdeploy/ssh_config

Exit codes: 0 every FEC persisted; 1 other error; 2 usage; 3 no storage or
unknown FEC; 5 interrupted; 6 not every FEC persisted (failed, or an empty
data set kept its previous snapshot): see the output for which and why.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fec-persist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var (
		store      = fs.String("storage", cli.EnvOr("FECDEPLOY_STORAGE", "/srv/web-storage"), "web storage directory ($FECDEPLOY_STORAGE)")
		signKey    = fs.String("sign-key", os.Getenv("FECDEPLOY_SIGNING_KEY"), "ed25519 private key (PEM) to sign INDEX files with ($FECDEPLOY_SIGNING_KEY; default "+cli.DefaultSigningKey+" when it exists)")
		parallel   = fs.Int("parallel", persist.DefaultParallel, "FECs pulled at once")
		keep       = fs.Int("keep", storage.DefaultKeepGenerations, "generations kept per data set")
		quota      = fs.String("quota", "1G", "default per-FEC quota of one run's snapshots (compressed; K, M, G suffixes); persist_quota= in fec.conf overrides")
		allowEmpty = fs.Bool("allow-empty", false, "store a missing or empty data set as an empty snapshot instead of keeping the previous one")
		compress   = fs.String("compress", "fec", "where snapshots are compressed: fec (tar -czf on the FEC, stored verbatim after checking) or here (plain tar over ssh, zstd/gzip on this host); persist_compress= in fec.conf overrides")
		sshConfig  = fs.String("ssh-config", "", "ssh configuration file (ssh -F; default: the user's ~/.ssh/config)")
		connect    = fs.Duration("connect-timeout", persist.DefaultConnectTimeout, "ssh ConnectTimeout")
		alive      = fs.Duration("alive-interval", persist.DefaultAliveInterval, "ssh ServerAliveInterval (a FEC silent for 3 of them is given up)")
		timeout    = fs.Duration("timeout", persist.DefaultTimeout, "time limit of one FEC's whole pull")
		asJSON     = fs.Bool("json", false, "print one JSON object per FEC (bytes, duration, generation, status and reason)")
		verbose    = fs.Bool("v", false, "log every data set")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ExitOK
		}
		return cli.ExitUsage
	}
	q, err := persist.ParseSize(*quota)
	if err != nil {
		fmt.Fprintf(stderr, "fec-persist: -quota %q: %v\n", *quota, err)
		return cli.ExitUsage
	}
	if *parallel < 1 || *keep < 1 {
		fmt.Fprintf(stderr, "fec-persist: -parallel and -keep must be at least 1\n")
		return cli.ExitUsage
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "fec-persist: %v\n", err)
		return cli.ExitCode(err)
	}
	sopts := []storage.Option{storage.WithLogger(logger)}
	key, err := cli.LoadSigningKey(*signKey)
	if err != nil {
		return fail(err)
	}
	if key != nil {
		sopts = append(sopts, storage.WithSigningKey(key))
	}
	st, err := storage.Open(*store, sopts...)
	if err != nil {
		return fail(err)
	}
	if *compress != "fec" && *compress != "here" {
		fmt.Fprintf(stderr, "fec-persist: -compress %q: want fec or here\n", *compress)
		return cli.ExitUsage
	}
	opts := persist.Options{FECs: fs.Args(), Compress: *compress, Parallel: *parallel, Keep: *keep, Quota: q, AllowEmpty: *allowEmpty,
		ConnectTimeout: *connect, AliveInterval: *alive, Timeout: *timeout, Logger: logger}
	if *sshConfig != "" {
		opts.SSHArgs = []string{"-F", *sshConfig}
	}
	tty := false
	if f, ok := stdout.(*os.File); ok {
		tty = cli.IsTerminal(f)
	}
	total := len(opts.FECs)
	if total == 0 {
		fecs, err := st.PersistentFECs(ctx)
		if err != nil {
			return fail(err)
		}
		total = len(fecs)
	}
	done := 0
	enc := json.NewEncoder(stdout)
	opts.Done = func(r persist.Result) {
		done++
		if *asJSON {
			_ = enc.Encode(r)
			return
		}
		if tty {
			fmt.Fprintf(stdout, "\r\033[K")
		}
		fmt.Fprintln(stdout, line(r))
		if tty && done < total {
			fmt.Fprintf(stdout, "[%d/%d FECs]", done, total)
		}
	}
	start := time.Now()
	results, err := persist.Run(ctx, st, opts)
	if !*asJSON {
		counts := map[string]int{}
		for _, r := range results {
			counts[r.Status]++
		}
		fmt.Fprintf(stdout, "%d FECs: %d persisted, %d kept, %d failed, %d without data sets; %s\n", len(results),
			counts[persist.StatusPersisted], counts[persist.StatusKept], counts[persist.StatusFailed], counts[persist.StatusNone],
			time.Since(start).Round(time.Millisecond))
	}
	switch {
	case err == nil:
		return cli.ExitOK
	case errors.Is(err, persist.ErrIncomplete):
		if ctx.Err() != nil {
			return cli.ExitBusy
		}
		return cli.ExitProblems
	}
	return fail(err)
}

// line is one FEC's result as text.
func line(r persist.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s %-16s %10s %7dms", r.Status, r.FEC, cli.HumanBytes(r.Bytes), r.DurationMS)
	for _, s := range r.Sets {
		fmt.Fprintf(&b, "\n  %-9s %-24s", s.Status, s.Set)
		if s.Generation > 0 {
			fmt.Fprintf(&b, " generation %d, %s (%s of tar, %d files)", s.Generation, cli.HumanBytes(s.Bytes), cli.HumanBytes(s.TarBytes), s.Files)
		}
		if s.Reason != "" {
			fmt.Fprintf(&b, " %s", s.Reason)
		}
		for _, w := range s.Warnings {
			fmt.Fprintf(&b, "\n    warning: %s", w)
		}
	}
	if len(r.Sets) == 0 && r.Reason != "" {
		fmt.Fprintf(&b, " %s", r.Reason)
	}
	return b.String()
}
