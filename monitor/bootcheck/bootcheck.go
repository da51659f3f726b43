// Package bootcheck turns a FEC's boot status file (fec.Status, written by
// fec-boot and fec-boot.sh) into a monitoring-plugin result: OK, WARNING
// (behind the storage, a dry run, a script not run, a stale status),
// CRITICAL (a failed archive or script, a failed boot), UNKNOWN (no
// readable status), with one summary line and perfdata. check_fec_boot is
// its command; docs/monitoring.md shows how Icinga runs it.
package bootcheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/fec"
)

// State is a monitoring-plugin state; its value is the plugin's exit code.
type State int

// The plugin states.
const (
	OK       State = 0
	Warning  State = 1
	Critical State = 2
	Unknown  State = 3
)

func (s State) String() string {
	return [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[s]
}

// Options tune Evaluate.
type Options struct {
	// IndexSHA256 is the sha256 of the FEC's INDEX on the storage now; a
	// status of another INDEX means the FEC has not booted since its
	// software changed: WARNING (behind). "" skips the comparison.
	IndexSHA256 string
	// MaxAge makes a status older than this a WARNING (0: no limit).
	MaxAge time.Duration
	// Now is the current time (zero: time.Now()).
	Now time.Time
}

// Result is the check's outcome.
type Result struct {
	State    State
	Summary  string   // the first output line, after the state
	Details  []string // further lines: one per problem
	Perfdata string
}

// String is the plugin output: "FEC-BOOT STATE - summary | perfdata" and
// the details.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FEC-BOOT %s - %s", r.State, r.Summary)
	if r.Perfdata != "" {
		fmt.Fprintf(&b, " | %s", r.Perfdata)
	}
	b.WriteByte('\n')
	for _, d := range r.Details {
		b.WriteString(d + "\n")
	}
	return b.String()
}

// Evaluate judges a boot status.
func Evaluate(st *fec.Status, o Options) Result {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := Result{State: OK}
	raise := func(s State, detail string) {
		if s > r.State {
			r.State = s
		}
		r.Details = append(r.Details, fmt.Sprintf("%s: %s", s, detail))
	}
	installed, skipped, failed := st.Counts()
	for _, e := range st.Entries {
		if e.Action == fec.ActionFailed {
			raise(Critical, fmt.Sprintf("%s %s %s failed: %s", e.Kind, e.Name, e.Version, e.Error))
		}
	}
	scriptsFailed := 0
	for _, sc := range st.Scripts {
		switch {
		case sc.Action == fec.ActionFailed && sc.ExitCode == fec.ScriptNotRun:
			scriptsFailed++
			raise(Critical, fmt.Sprintf("init script %s could not run: %s", sc.Name, sc.Error))
		case sc.Action == fec.ActionFailed || (sc.Action == fec.ActionRan && sc.ExitCode != 0):
			scriptsFailed++
			raise(Critical, fmt.Sprintf("init script %s exited %d: %s", sc.Name, sc.ExitCode, sc.Error))
		case sc.ExitCode == fec.ScriptNotRun && !st.DryRun:
			raise(Warning, fmt.Sprintf("init script %s was not run", sc.Name))
		}
	}
	if st.ExitCode != 0 {
		msg := fmt.Sprintf("fec-boot exited %d", st.ExitCode)
		if st.Error != "" {
			msg += ": " + st.Error
		}
		raise(Critical, msg)
	}
	if st.DryRun {
		raise(Warning, "the last run was a dry run: nothing was installed")
	}
	if o.IndexSHA256 != "" && !strings.EqualFold(o.IndexSHA256, st.IndexSHA256) {
		raise(Warning, fmt.Sprintf("behind: booted INDEX %.12s, the storage has %.12s now; reboot the FEC or run fec-boot install", st.IndexSHA256, o.IndexSHA256))
	}
	age := now.Sub(st.Finished)
	if o.MaxAge > 0 && !st.Finished.IsZero() && age > o.MaxAge {
		raise(Warning, fmt.Sprintf("the status is %s old (more than %s)", age.Round(time.Second), o.MaxAge))
	}
	r.Summary = fmt.Sprintf("FEC %s: %d installed, %d up to date, %d failed, %d scripts, %d failed", st.FEC, installed, skipped, failed, len(st.Scripts), scriptsFailed)
	if len(r.Details) > 0 {
		first := r.Details[0]
		r.Summary += "; " + first[strings.Index(first, ": ")+2:]
	}
	r.Perfdata = fmt.Sprintf("installed=%d skipped=%d failed=%d;;1;0 scripts_failed=%d;;1;0 duration=%.3fs",
		installed, skipped, failed, scriptsFailed, float64(st.DurationMS)/1000)
	if !st.Finished.IsZero() {
		maxAge := ""
		if o.MaxAge > 0 {
			maxAge = fmt.Sprintf("%d", int64(o.MaxAge.Seconds()))
		}
		r.Perfdata += fmt.Sprintf(" age=%ds;%s;;0", int64(age.Seconds()), maxAge)
	}
	return r
}

// Read returns the content of src: a file path, an http(s) URL, or "-"
// for stdin. At most 16 MiB are read.
func Read(ctx context.Context, client *http.Client, src string, stdin io.Reader) ([]byte, error) {
	const max = 16 << 20
	var r io.Reader
	switch {
	case src == "-":
		r = stdin
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", src, resp.Status)
		}
		r = resp.Body
	default:
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", src, max)
	}
	return b, nil
}

// Check reads the status (and the INDEX, when indexSrc is set) and
// evaluates them; a status it cannot read or parse is UNKNOWN.
func Check(ctx context.Context, client *http.Client, statusSrc, indexSrc string, stdin io.Reader, o Options) Result {
	unknown := func(err error) Result {
		return Result{State: Unknown, Summary: err.Error()}
	}
	data, err := Read(ctx, client, statusSrc, stdin)
	if err != nil {
		return unknown(fmt.Errorf("no boot status: %w", err))
	}
	var st fec.Status
	if err := json.Unmarshal(data, &st); err != nil {
		return unknown(fmt.Errorf("boot status %s is not a fec-boot status file: %w", statusSrc, err))
	}
	if indexSrc != "" {
		idx, err := Read(ctx, client, indexSrc, stdin)
		if err != nil {
			return unknown(fmt.Errorf("no INDEX to compare with: %w", err))
		}
		sum := sha256.Sum256(idx)
		o.IndexSHA256 = hex.EncodeToString(sum[:])
	}
	return Evaluate(&st, o)
}
