package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// screen plays terminal output back: \r moves to column 0, ESC[K erases to the
// end of the line, \n ends it; it returns the lines a user sees.
func screen(out string) []string {
	var lines []string
	line := []rune{}
	col := 0
	for i := 0; i < len(out); {
		switch {
		case strings.HasPrefix(out[i:], clearEOL):
			line = line[:col]
			i += len(clearEOL)
			continue
		case out[i] == '\r':
			col = 0
		case out[i] == '\n':
			lines = append(lines, string(line))
			line, col = line[:0:0], 0
		default:
			r := []rune(out[i : i+1])[0]
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
		}
		i++
	}
	if len(line) > 0 {
		lines = append(lines, string(line))
	}
	return lines
}

// A redraw shorter than the one before leaves no stale characters ("23.5 MiBB").
func TestBarClearsTheLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := New(&buf, true, "packing", 200<<20)
	clock := time.Unix(0, 0)
	b.now = func() time.Time { return clock }
	b.start = clock
	b.Update(int64(23.5 * (1 << 20))) // "23.5 MiB"
	clock = clock.Add(time.Second)
	b.Update(999) // "999 B": shorter
	got := screen(buf.String())
	require.Len(t, got, 1, "%q", buf.String())
	assert.Equal(t, "packing [..............................]   0% 999 B", got[0])
	clock = clock.Add(time.Second)
	b.Finish()
	got = screen(buf.String())
	assert.Equal(t, []string{"packing [..............................]   0% 999 B in 2s"}, got)
}

// Log lines written through Writer clear the bar first and the bar comes back below them.
func TestBarWriterKeepsLogLinesClean(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := New(&buf, true, "downloading", 100)
	b.Update(50)
	w := b.Writer(&buf)
	_, err := w.Write([]byte("level=INFO msg=installed\n"))
	require.NoError(t, err)
	lines := screen(buf.String())
	require.Len(t, lines, 2, "%q", buf.String())
	assert.Equal(t, "level=INFO msg=installed", lines[0])
	assert.Contains(t, lines[1], " 50% 50 B")
}

func TestPlainLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := New(&buf, false, "packing", 400)
	for i := int64(0); i <= 400; i += 10 {
		b.Update(i)
	}
	b.Finish()
	// 0%, 25%, 50%, 75% and the final line; no carriage returns off a terminal.
	assert.Len(t, strings.Split(strings.TrimSpace(buf.String()), "\n"), 5, "%s", buf.String())
	assert.NotContains(t, buf.String(), "\r")
}

// /dev/null is a character device but no terminal; a regular file is neither.
func TestIsTerminal(t *testing.T) {
	t.Parallel()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer null.Close()
	assert.False(t, IsTerminal(null), "/dev/null counts as a terminal")
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, IsTerminal(f))
	assert.False(t, IsTerminal(nil))
}

func TestBarParts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := New(&buf, false, "downloading", 0)
	b.Part("a", 50, 100)
	b.Part("b", 100, 100)
	b.Finish()
	assert.Contains(t, buf.String(), "downloading: 150 B of 200 B")
	assert.Contains(t, buf.String(), "downloading: 150 B in")
}
