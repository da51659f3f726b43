package fec

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Actions in EntryStatus.Action and ScriptStatus.Action.
const (
	ActionInstalled = "installed" // downloaded, verified, unpacked, committed
	ActionSkipped   = "skipped"   // the same sha256 is already installed
	ActionFailed    = "failed"    // see Error; nothing of it was written
	ActionDryRun    = "dry-run"   // would be installed (or a script would run)
	ActionRan       = "ran"       // a script ran and exited 0
	// ActionKept: a data archive was not restored because the FEC holds
	// newer local data in the directories it covers (see Error for which
	// file); nothing of it was written. docs/persistence.md.
	ActionKept = "kept"
)

// Status is what a boot did; Boot writes it as JSON to Config.StatusFile.
// The field names are part of the interface (the shell client writes the
// same file): see docs/boot.md.
type Status struct {
	FEC         string         `json:"fec"`
	BaseURL     string         `json:"base_url"` // credentials redacted
	Root        string         `json:"root"`
	Command     string         `json:"command"` // boot or install
	DryRun      bool           `json:"dry_run"`
	IndexSHA256 string         `json:"index_sha256"`
	Started     time.Time      `json:"started"`
	Finished    time.Time      `json:"finished"`
	DurationMS  int64          `json:"duration_ms"`
	Entries     []EntryStatus  `json:"entries"`
	Scripts     []ScriptStatus `json:"scripts"`
	ExitCode    int            `json:"exit_code"`
	Error       string         `json:"error,omitempty"`
	// Warnings are problems of the INDEX that do not stop the boot, e.g. a
	// FESA instance configuration at another version than its software.
	Warnings []string `json:"warnings,omitempty"`
	// Repairs: broken local state found at the start and what was done
	// (a corrupt install record removed, a leftover staging directory of
	// an interrupted run removed, an invalid status file replaced).
	Repairs []string `json:"repairs,omitempty"`
	// Removed: version directories removed after the install phase
	// (software that left the INDEX, versions before the previous one).
	Removed []string `json:"removed,omitempty"`
}

// EntryStatus is one archive of the INDEX.
type EntryStatus struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	Dev        bool   `json:"dev"`
	SHA256     string `json:"sha256"`
	Action     string `json:"action"`
	Bytes      int64  `json:"bytes"` // archive size downloaded (0 when skipped)
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// ScriptStatus is one init script.
type ScriptStatus struct {
	Name       string   `json:"name"`
	Action     string   `json:"action"`    // ran, failed, dry-run
	ExitCode   int      `json:"exit_code"` // 124 timed out, 126 not executable, 127 interpreter not found, -1 not run
	DurationMS int64    `json:"duration_ms"`
	Error      string   `json:"error,omitempty"`
	Output     []string `json:"output,omitempty"` // the last lines it printed
}

// Counts returns how many entries were installed (or, in a dry run, would
// be), skipped and failed.
func (s *Status) Counts() (installed, skipped, failed int) {
	for _, e := range s.Entries {
		switch e.Action {
		case ActionInstalled, ActionDryRun:
			installed++
		case ActionSkipped, ActionKept:
			skipped++
		case ActionFailed:
			failed++
		}
	}
	return
}

// JSON returns the status file's content.
func (s *Status) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteSummary writes a human-readable summary with timings: one line per
// entry and script, then a result line.
func (s *Status) WriteSummary(w io.Writer) error {
	var b strings.Builder
	what := "boot"
	if s.Command != "" {
		what = s.Command
	}
	if s.DryRun {
		what += " (dry run)"
	}
	fmt.Fprintf(&b, "fec-boot %s of FEC %s from %s", what, s.FEC, s.BaseURL)
	if s.IndexSHA256 != "" {
		fmt.Fprintf(&b, " (INDEX sha256 %.12s)", s.IndexSHA256)
	}
	b.WriteByte('\n')
	for _, e := range s.Entries {
		name := e.Name
		if e.Version != "" {
			name += " " + e.Version
		}
		if e.Dev {
			name += " (dev)"
		}
		took := ms(e.DurationMS)
		if e.Action != ActionInstalled && e.Action != ActionFailed {
			took = "-"
		}
		fmt.Fprintf(&b, "  %-9s %-13s %-36s %10s %8s", e.Action, e.Kind, name, humanBytes(e.Bytes), took)
		if e.Error != "" {
			fmt.Fprintf(&b, "  %s", e.Error)
		}
		b.WriteByte('\n')
	}
	for _, sc := range s.Scripts {
		code, took := fmt.Sprintf("exit %d", sc.ExitCode), ms(sc.DurationMS)
		if sc.ExitCode == ScriptNotRun {
			code, took = "not run", "-"
		}
		fmt.Fprintf(&b, "  %-9s %-13s %-36s %10s %8s", sc.Action, "init", sc.Name, code, took)
		if sc.Error != "" {
			fmt.Fprintf(&b, "  %s", sc.Error)
		}
		b.WriteByte('\n')
	}
	for _, r := range s.Repairs {
		fmt.Fprintf(&b, "  repaired  %s\n", r)
	}
	for _, r := range s.Removed {
		fmt.Fprintf(&b, "  removed   %s\n", r)
	}
	in, sk, fa := s.Counts()
	sf := 0
	for _, sc := range s.Scripts {
		if sc.Action == ActionFailed {
			sf++
		}
	}
	if s.DryRun {
		fmt.Fprintf(&b, "dry run: %d to install, %d already installed; %d scripts would run; nothing changed\n", in, sk, len(s.Scripts))
	} else {
		fmt.Fprintf(&b, "%d installed, %d skipped, %d failed; %d scripts, %d failed; %s; exit code %d\n",
			in, sk, fa, len(s.Scripts), sf, ms(s.DurationMS), s.ExitCode)
	}
	if s.Error != "" && fa == 0 && sf == 0 {
		fmt.Fprintf(&b, "error: %s\n", s.Error)
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(n int64) string {
	return (time.Duration(n) * time.Millisecond).String()
}

func humanBytes(n int64) string {
	switch {
	case n == 0:
		return "-"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}
