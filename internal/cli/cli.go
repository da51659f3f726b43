// Package cli is the command-line plumbing that fec-pack, fecctl and
// fec-prune share, so each command stays a flag set plus one library call:
// subcommand dispatch with help and examples, usage errors, the storage
// flags and the signing key (reading it, writing a new pair), the exit-code
// table (ExitCode), JSON and table-ready views, and progress rendering (a
// bar on a terminal, plain log lines otherwise). Only commands import it.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/fair-acc/fecdeploy/internal/progress"
)

// ErrUsage marks a command-line mistake (exit code 2 in every binary).
var ErrUsage = errors.New("usage error")

// Usagef returns an error wrapping ErrUsage.
func Usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// Command is one subcommand of a multi-command binary.
type Command struct {
	Name     string
	Args     string // e.g. "FEC SOFTWARE VERSION"
	Summary  string
	Examples []string
	// Flags declares the flags on fs and returns the function that runs the
	// command with the remaining arguments.
	Flags func(fs *flag.FlagSet) func(args []string) error
	// Sub, when set, makes this a command group ("fecctl persist add ..."):
	// the next argument names one of them, dispatched like a command.
	Sub []Command
}

// NewFlagSet returns a flag set whose -help prints usage, flags and examples.
func NewFlagSet(prog string, c Command, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(prog+" "+c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s %s [flags] %s\n\n%s\n", prog, c.Name, c.Args, c.Summary)
		if hasFlags(fs) {
			fmt.Fprintf(stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
		if len(c.Examples) > 0 {
			fmt.Fprintf(stderr, "\nExamples:\n")
			for _, e := range c.Examples {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// Dispatch runs the subcommand named by args[0]. It returns flag.ErrHelp when
// help was asked for (exit 0), an ErrUsage error for mistakes.
func Dispatch(prog, summary string, cmds []Command, args []string, stderr io.Writer, footer string) error {
	usage := func() {
		fmt.Fprintf(stderr, "%s\n\nUsage: %s COMMAND [flags] [args]\n\nCommands:\n", summary, prog)
		names := make([]string, 0, len(cmds))
		byName := map[string]Command{}
		for _, c := range cmds {
			names = append(names, c.Name)
			byName[c.Name] = c
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-12s %s\n", n, firstLine(byName[n].Summary))
		}
		fmt.Fprintf(stderr, "\nRun '%s COMMAND -help' for a command's flags and examples.\n", prog)
		if footer != "" {
			fmt.Fprintf(stderr, "\n%s\n", strings.TrimSpace(footer))
		}
	}
	if len(args) == 0 {
		usage()
		return Usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage()
		return flag.ErrHelp
	}
	for _, c := range cmds {
		if c.Name != args[0] {
			continue
		}
		if c.Sub != nil {
			return Dispatch(prog+" "+c.Name, c.Summary, c.Sub, args[1:], stderr, "")
		}
		fs := NewFlagSet(prog, c, stderr)
		run := c.Flags(fs)
		if err := fs.Parse(interleave(fs, args[1:])); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		return run(fs.Args())
	}
	usage()
	return Usagef("unknown command %q", args[0])
}

// interleave lets flags follow positional arguments ("link fec01 Foo 1.0 --json").
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(append(flags, "--"), pos...)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// NArgs checks the number of positional arguments.
func NArgs(args []string, min, max int, names string) error {
	if len(args) < min || (max >= 0 && len(args) > max) {
		return Usagef("want %s, got %d argument(s): %q", names, len(args), args)
	}
	return nil
}

// SplitList splits "a,b c" into its items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// PrintJSON writes v as indented JSON.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// IsTerminal reports whether f is a terminal (golang.org/x/term; /dev/null is not).
func IsTerminal(f *os.File) bool { return progress.IsTerminal(f) }

// Progress returns a callback for byte counts: a bar redrawn in place on a
// terminal (clearing the rest of the line), a log line every 25% (or 5 s)
// otherwise. total <= 0 means unknown. Call the returned done function once
// at the end.
func Progress(w *os.File, label string, total int64) (update func(done int64), finish func()) {
	b := progress.For(w, label, total)
	return b.Update, b.Finish
}

// HumanBytes renders a byte count with a binary unit.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
