// Command check_fec_boot is a monitoring plugin (Icinga, Nagios) that turns
// a FEC's last boot status file into a service state: OK, WARNING (behind
// the storage's INDEX, a dry run, a script not run, a stale status),
// CRITICAL (a failed archive or script), UNKNOWN (no readable status).
// The work is bootcheck.Check; see docs/monitoring.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/fair-acc/fecdeploy/monitor/bootcheck"
)

const usage = `Usage: check_fec_boot -status PATH|URL|- [-index PATH|URL] [-max-age DURATION]

Reads a FEC's boot status file (status.json, written by fec-boot and
fec-boot.sh) and prints one plugin line with perfdata.

Exit codes (monitoring-plugin convention): 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN.

Examples:
  check_fec_boot -status http://scu01.acc.example.org/fecdeploy/status.json
  check_fec_boot -status /srv/boot-status/scu01.json -index /srv/web-storage/fecs/scu01/INDEX -max-age 48h
  ssh scu01 cat /var/lib/fecdeploy/status.json | check_fec_boot -status -

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check_fec_boot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	status := fs.String("status", "", "the status file: a path, an http(s) URL, or - for stdin")
	index := fs.String("index", "", "the FEC's INDEX on the storage (path or URL): a status of another INDEX is WARNING (behind)")
	maxAge := fs.Duration("max-age", 0, "a status older than this is WARNING (0: no limit)")
	timeout := fs.Duration("timeout", 10*time.Second, "overall timeout")
	if err := fs.Parse(args); err != nil || *status == "" || fs.NArg() > 0 {
		if err == nil {
			fmt.Fprintln(stderr, "check_fec_boot: -status is required, and no arguments")
		}
		fmt.Fprintln(stdout, "FEC-BOOT UNKNOWN - usage: check_fec_boot -status PATH|URL|-")
		return int(bootcheck.Unknown)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := bootcheck.Check(ctx, &http.Client{}, *status, *index, stdin, bootcheck.Options{MaxAge: *maxAge})
	fmt.Fprint(stdout, r.String())
	return int(r.State)
}
