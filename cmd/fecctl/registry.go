package main

import (
	"context"
	"flag"
	"io"

	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/storage"
)

// Adding a command
//
// Each file of this package holds one group of commands (fecs.go, links.go,
// versions.go, index.go, keys.go, serve.go, dev.go, receive.go, nfsinit.go).
// A command is a constructor returning a cli.Command: its name, arguments,
// summary and examples (the help text), and a Flags function that declares
// the flags and returns the run function, which checks the arguments and
// makes one library call. To add a command or a group, create <group>.go with
//
//	func init() { register(newFoo, newBar) }
//
//	func newFoo(e *env) cli.Command {
//		return cli.Command{
//			Name: "foo", Args: "FEC", Summary: "Do foo to a FEC.",
//			Examples: []string{"fecctl foo scu01"},
//			Flags: func(fs *flag.FlagSet) func([]string) error {
//				asJSON := jsonFlag(fs)
//				return withStorage(fs, func(st *storage.Storage, args []string) error {
//					if err := cli.NArgs(args, 1, 1, "FEC"); err != nil {
//						return err
//					}
//					return st.Foo(e.ctx, args[0]) // the one library call
//				})
//			},
//		}
//	}
//
// and nothing else: help lists the commands sorted by name, and
// TestHelpGolden (go test -run Help -update) records the new help text.
// Logic beyond parsing arguments and printing belongs in a library package.

// env is what every command gets: the context (cancelled by SIGINT or
// SIGTERM) and the output streams.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// constructors holds the registered commands, filled by register from each
// file's init function.
var constructors []func(*env) cli.Command

// register adds commands to fecctl; call it from an init function.
func register(c ...func(*env) cli.Command) {
	constructors = append(constructors, c...)
}

// commands builds every registered command for one run.
func commands(ctx context.Context, stdout, stderr io.Writer) []cli.Command {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	cmds := make([]cli.Command, 0, len(constructors))
	for _, c := range constructors {
		cmds = append(cmds, c(e))
	}
	return cmds
}

// withStorage declares the storage flags (-storage, -sign-key, -v) and opens
// the storage before run.
func withStorage(fs *flag.FlagSet, run func(st *storage.Storage, args []string) error) func([]string) error {
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

// kindFlag declares -kind for commands on software or configurations.
func kindFlag(fs *flag.FlagSet) *string {
	return fs.String("kind", "software", "software or configuration")
}

// jsonFlag declares -json.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "JSON output")
}
