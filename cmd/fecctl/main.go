// Command fecctl manages a fecdeploy web storage: FECs, links, indexes,
// signatures, verification, the built-in server and the demo. Every
// subcommand parses its flags, calls one library function and maps the error
// to an exit code. One file per group of subcommands (fecs.go, links.go,
// versions.go, index.go, keys.go, serve.go); registry.go says how to add one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/fair-acc/fecdeploy/internal/cli"
)

const footer = `Exit codes: 0 ok; 1 other error; 2 usage, bad name or version; 3 not found
(no storage, unknown FEC, missing version); 4 refused (immutable version,
architecture or decoder mismatch, in use); 5 interrupted or lock timeout;
6 verify found problems.

The storage is -storage DIR or $FECDEPLOY_STORAGE (default /srv/web-storage).
INDEX files are signed when a key is given (-sign-key, $FECDEPLOY_SIGNING_KEY,
or /etc/fecdeploy/signing.key when it exists).`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cli.Dispatch("fecctl", "fecctl manages a fecdeploy web storage.", commands(ctx, stdout, stderr), args, stderr, footer)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return cli.ExitOK
	}
	fmt.Fprintf(stderr, "fecctl: %v\n", err)
	return cli.ExitCode(err)
}
