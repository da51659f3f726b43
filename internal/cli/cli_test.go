package cli

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	var gotArgs []string
	var gotJSON bool
	cmds := []Command{{
		Name: "link", Args: "FEC SOFTWARE", Summary: "Link software.", Examples: []string{"fecctl link fec01 Foo"},
		Flags: func(fs *flag.FlagSet) func([]string) error {
			j := fs.Bool("json", false, "JSON output")
			return func(args []string) error {
				gotArgs, gotJSON = args, *j
				return NArgs(args, 2, 2, "FEC SOFTWARE")
			}
		},
	}}
	var stderr bytes.Buffer
	if err := Dispatch("fecctl", "test", cmds, []string{"link", "fec01", "--json", "Foo"}, &stderr, ""); err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotArgs, ",") != "fec01,Foo" || !gotJSON {
		t.Fatalf("args %q json %v", gotArgs, gotJSON)
	}
	if err := Dispatch("fecctl", "test", cmds, []string{"link", "fec01"}, &stderr, ""); !errors.Is(err, ErrUsage) {
		t.Fatalf("missing arg: %v", err)
	}
	if err := Dispatch("fecctl", "test", cmds, []string{"nope"}, &stderr, ""); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown command: %v", err)
	}
	stderr.Reset()
	if err := Dispatch("fecctl", "test", cmds, []string{"link", "-help"}, &stderr, ""); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("help: %v", err)
	}
	if !strings.Contains(stderr.String(), "fecctl link fec01 Foo") {
		t.Fatalf("help lacks examples: %s", stderr.String())
	}
}

func TestProgressPlainLines(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	update, finish := Progress(f, "packing", 400)
	for i := int64(0); i <= 400; i += 10 {
		update(i)
	}
	finish()
	f.Close()
	b, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// 0%, 25%, 50%, 75% and the final line; no carriage returns off a terminal.
	if len(lines) != 5 || strings.Contains(string(b), "\r") {
		t.Fatalf("got %d lines:\n%s", len(lines), b)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
