// Package progress renders byte progress for the commands: a bar redrawn in
// place on a terminal (each redraw clears the rest of the line, so a shorter
// line leaves no stale characters), a plain line every 25% (or 5 s)
// otherwise. Terminal detection is golang.org/x/term's (an ioctl on the file:
// /dev/null and other character devices that are no terminal do not count).
// It imports nothing of the project, so fec-boot can use it.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// clearEOL erases from the cursor to the end of the line (ANSI EL 0).
const clearEOL = "\x1b[K"

// minRedraw bounds the bar's redraw rate on a terminal.
const minRedraw = 100 * time.Millisecond

// Bar is one progress display. Its methods are safe for concurrent use.
type Bar struct {
	mu          sync.Mutex
	w           io.Writer
	tty         bool
	label       string
	total       int64
	start       time.Time
	last        int64
	lastDraw    time.Time
	lastLog     time.Time
	lastQuarter int
	shown       bool // a bar line is on the terminal (not yet ended by a newline)
	done        bool
	now         func() time.Time
	parts       map[string][2]int64 // Part: name -> done, total
}

// New returns a bar writing to w; tty selects the in-place bar. total <= 0
// means the size is unknown.
func New(w io.Writer, tty bool, label string, total int64) *Bar {
	now := time.Now
	t := now()
	return &Bar{w: w, tty: tty, label: label, total: total, start: t, lastLog: t, lastQuarter: -1, now: now}
}

// For returns a bar on f, in place when f is a terminal.
func For(f *os.File, label string, total int64) *Bar {
	return New(f, IsTerminal(f), label, total)
}

// SetTotal changes the expected size (e.g. when more downloads become known).
func (b *Bar) SetTotal(total int64) {
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Update reports the bytes done so far.
func (b *Bar) Update(done int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.last = done
	b.draw(false)
}

// Part reports one of several concurrent transfers (e.g. parallel downloads):
// the bar shows the sum of their bytes against the sum of their sizes.
func (b *Bar) Part(name string, done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	if b.parts == nil {
		b.parts = map[string][2]int64{}
	}
	b.parts[name] = [2]int64{done, total}
	b.last, b.total = 0, 0
	for _, p := range b.parts {
		b.last += p[0]
		b.total += p[1]
	}
	b.draw(false)
}

// Finish draws the final state once and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.draw(true)
	b.done = true
}

// Writer returns w wrapped so that each write first clears the bar's line and
// then redraws the bar below the written text: log lines and the bar share a
// terminal without garbling each other. Off a terminal it is w.
func (b *Bar) Writer(w io.Writer) io.Writer {
	if !b.tty {
		return w
	}
	return writerFunc(func(p []byte) (int, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.shown {
			fmt.Fprint(b.w, "\r"+clearEOL)
			b.shown = false
		}
		n, err := w.Write(p)
		if !b.done && b.lastDraw != (time.Time{}) {
			b.render("")
		}
		return n, err
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (b *Bar) draw(final bool) {
	now := b.now()
	switch {
	case b.tty:
		if !final && now.Sub(b.lastDraw) < minRedraw && b.lastDraw != (time.Time{}) {
			return
		}
		b.lastDraw = now
		suffix := ""
		if final {
			suffix = " in " + now.Sub(b.start).Round(time.Millisecond).String() + "\n"
		}
		b.render(suffix)
		b.shown = !final
	case final:
		fmt.Fprintf(b.w, "%s: %s in %s\n", b.label, humanBytes(b.last), now.Sub(b.start).Round(time.Millisecond))
	default:
		q := -1
		if b.total > 0 {
			q = int(4 * b.last / b.total)
		}
		if (q > b.lastQuarter && q < 4) || now.Sub(b.lastLog) > 5*time.Second {
			b.lastQuarter, b.lastLog = q, now
			fmt.Fprintf(b.w, "%s: %s", b.label, humanBytes(b.last))
			if b.total > 0 {
				fmt.Fprintf(b.w, " of %s", humanBytes(b.total))
			}
			fmt.Fprintln(b.w)
		}
	}
}

// render writes the bar line: carriage return, text, clear to end of line.
func (b *Bar) render(suffix string) {
	pct := 0.0
	if b.total > 0 {
		pct = float64(b.last) / float64(b.total)
		if pct > 1 {
			pct = 1
		}
	}
	n := int(pct * 30)
	bar := strings.Repeat("#", n) + strings.Repeat(".", 30-n)
	fmt.Fprintf(b.w, "\r%s [%s] %3.0f%% %s%s%s", b.label, bar, pct*100, humanBytes(b.last), clearEOL, suffix)
	b.shown = true
}

// humanBytes renders a byte count with a binary unit (as cli.HumanBytes).
func humanBytes(n int64) string {
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
