package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDispatch(t *testing.T) {
	t.Parallel()
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
	require.NoError(t, Dispatch("fecctl", "test", cmds, []string{"link", "fec01", "--json", "Foo"}, &stderr, ""))
	assert.Equal(t, []string{"fec01", "Foo"}, gotArgs, "a flag after positional arguments")
	assert.True(t, gotJSON)
	assert.ErrorIs(t, Dispatch("fecctl", "test", cmds, []string{"link", "fec01"}, &stderr, ""), ErrUsage, "missing arg")
	err := Dispatch("fecctl", "test", cmds, []string{"nope"}, &stderr, "")
	assert.ErrorIs(t, err, ErrUsage, "unknown command")
	assert.ErrorContains(t, err, "nope")
	stderr.Reset()
	require.ErrorIs(t, Dispatch("fecctl", "test", cmds, []string{"link", "-help"}, &stderr, ""), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "fecctl link fec01 Foo", "help lists the examples")
}

func TestProgressPlainLines(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	update, finish := Progress(f, "packing", 400)
	for i := int64(0); i <= 400; i += 10 {
		update(i)
	}
	finish()
	require.NoError(t, f.Close())
	b, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	// 0%, 25%, 50%, 75% and the final line; no carriage returns off a terminal.
	assert.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), 5, "%s", b)
	assert.NotContains(t, string(b), "\r")
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB"} {
		assert.Equal(t, want, HumanBytes(n), "HumanBytes(%d)", n)
	}
}

// An ssh:// storage is for fec-pack only; other commands say where to run.
func TestStorageFlagsRemoteRefused(t *testing.T) {
	t.Parallel()
	_, err := (&StorageFlags{Dir: "ssh://writer/srv/web-storage"}).Open()
	require.ErrorIs(t, err, ErrUsage)
	assert.Contains(t, err.Error(), "run this command on the writer host")
}
