package fec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
	"github.com/fair-acc/fecdeploy/internal/verify"
)

// Exit codes recorded for scripts that did not exit by themselves; the same
// as timeout(1) and the shell use.
const (
	ScriptTimedOut      = 124
	ScriptNotExecutable = 126
	// ScriptNotFound: the interpreter the #! line names does not exist (the
	// shell's code for a command not found).
	ScriptNotFound = 127
	ScriptNotRun   = -1
)

const outputTail = 20

// bootScripts fetches the init scripts into <state>/scripts (verified) and
// runs them in name order. Downloads are bounded by dctx (the boot deadline),
// the scripts only by their own timeout.
func (s *session) bootScripts(ctx, dctx context.Context, ix *index.Index, st *Status) error {
	cfg := s.cfg
	entries := initEntries(ix)
	dir := filepath.Join(cfg.StateDir, "scripts")
	var errs []error
	local := make([]string, len(entries))
	if !cfg.DryRun {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%w: creating %s: %v", ErrScript, dir, err)
		}
		removeStale(dir, entries)
	}
	for i, e := range entries {
		if cfg.DryRun {
			st.Scripts = append(st.Scripts, ScriptStatus{Name: e.Name, Action: ActionDryRun, ExitCode: ScriptNotRun})
			continue
		}
		p, err := s.fetchScript(dctx, dir, e)
		if err != nil {
			err = fmt.Errorf("init %s: %w", e.Name, err)
			st.Scripts = append(st.Scripts, ScriptStatus{Name: e.Name, Action: ActionFailed, ExitCode: ScriptNotRun, Error: err.Error()})
			errs = append(errs, err)
			cfg.Logger.Error("init script not fetched", "name", e.Name, "error", err.Error())
			continue
		}
		local[i] = p
	}
	if cfg.DryRun {
		return nil
	}
	env := s.scriptEnv(st)
	for i, e := range entries {
		if local[i] == "" {
			continue
		}
		cfg.progress(Event{Kind: index.KindInit, Name: e.Name, Phase: "script"})
		ss := runScript(ctx, cfg, e.Name, local[i], env)
		st.Scripts = append(st.Scripts, ss)
		if ss.Action == ActionFailed {
			errs = append(errs, fmt.Errorf("%w: init %s: %s", ErrScript, e.Name, ss.Error))
			cfg.Logger.Error("init script failed", "name", e.Name, "exit_code", ss.ExitCode, "error", ss.Error)
		} else {
			cfg.Logger.Info("init script done", "name", e.Name, "duration", ms(ss.DurationMS))
		}
	}
	sort.SliceStable(st.Scripts, func(i, j int) bool { return st.Scripts[i].Name < st.Scripts[j].Name })
	return errors.Join(errs...)
}

// fetchScript keeps a verified local copy; one whose sha256 already matches
// is not downloaded again.
func (s *session) fetchScript(ctx context.Context, dir string, e index.Entry) (string, error) {
	dst := filepath.Join(dir, e.Name)
	if fh, err := os.Open(dst); err == nil {
		sum, n, err := verify.Digest(fh)
		fh.Close()
		if err == nil && sum == e.SHA256 && n == e.Size {
			return dst, os.Chmod(dst, 0o755)
		}
	}
	u := s.base.JoinPath(e.Path)
	rr, err := s.f.openResuming(ctx, u)
	if err != nil {
		return "", classify(ctx, &downloadError{err})
	}
	defer rr.Close()
	tmp, err := durable.Create(dir, "."+e.Name, durable.Options{})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInstall, err)
	}
	defer tmp.Abort() // no-op after Commit
	if _, err := io.Copy(tmp, verify.NewReader(&streamReader{r: rr}, e.Size, e.SHA256)); err != nil {
		return "", classify(ctx, err)
	}
	if err := tmp.Commit(filepath.Base(dst), 0o755); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInstall, err)
	}
	return dst, nil
}

func removeStale(dir string, entries []index.Entry) {
	keep := map[string]bool{}
	for _, e := range entries {
		keep[e.Name] = true
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if !keep[de.Name()] {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// EnvName turns a software name into the part of an environment variable
// name: upper case, every character other than A-Z, 0-9 and _ becomes _.
func EnvName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// scriptEnv is the environment of the init scripts; docs/boot.md lists it.
func (s *session) scriptEnv(st *Status) []string {
	cfg := s.cfg
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FECDEPLOY_") {
			env = append(env, kv)
		}
	}
	if os.Getenv("PATH") == "" {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	plain := *s.base
	plain.User, plain.RawQuery, plain.Fragment = nil, "", ""
	env = append(env,
		"FECDEPLOY_FEC="+cfg.FEC,
		"FECDEPLOY_URL="+plain.String(),
		"FECDEPLOY_ROOT="+cfg.Root,
		"FECDEPLOY_STATE_DIR="+cfg.StateDir,
		"FECDEPLOY_ALLOWED_ROOTS="+strings.Join(cfg.AllowedRoots, ","),
	)
	var sw, dev, failed []string
	for _, e := range st.Entries {
		if e.Action == ActionFailed {
			failed = append(failed, e.Kind+"/"+e.Name)
			continue
		}
		if e.Kind != string(index.KindSoftware) {
			continue
		}
		sw = append(sw, e.Name)
		n := EnvName(e.Name)
		env = append(env, "FECDEPLOY_SW_"+n+"_VERSION="+e.Version)
		if e.Dev {
			dev = append(dev, e.Name)
			env = append(env, "FECDEPLOY_SW_"+n+"_DEV=1")
		} else {
			env = append(env, "FECDEPLOY_SW_"+n+"_DEV=0")
		}
	}
	env = append(env,
		"FECDEPLOY_SOFTWARE="+strings.Join(sw, " "),
		"FECDEPLOY_DEV_SOFTWARE="+strings.Join(dev, " "),
		"FECDEPLOY_FAILED="+strings.Join(failed, " "),
	)
	return env
}

// runScript runs one script with a timeout; on expiry its whole process
// group is killed.
func runScript(ctx context.Context, cfg Config, name, path string, env []string) ScriptStatus {
	ss := ScriptStatus{Name: name}
	sctx, cancel := context.WithTimeout(ctx, cfg.ScriptTimeout)
	defer cancel()
	lw := &lineWriter{out: cfg.ScriptOutput, prefix: "[" + name + "] "}
	cmd := exec.CommandContext(sctx, path)
	cmd.Dir = cfg.Root
	cmd.Env = append(env, "FECDEPLOY_SCRIPT="+name)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A daemon the script started may hold its output open; stop reading
	// shortly after the script itself exits.
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	ss.DurationMS = time.Since(start).Milliseconds()
	lw.flush()
	ss.Output = lw.tail
	switch {
	case sctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		ss.Action, ss.ExitCode = ActionFailed, ScriptTimedOut
		ss.Error = fmt.Sprintf("timed out after %v; its process group was killed", cfg.ScriptTimeout)
	case err != nil && cmd.ProcessState == nil && errors.Is(err, fs.ErrNotExist):
		// The script is there (fetched and verified): its interpreter is not.
		ss.Action, ss.ExitCode = ActionFailed, ScriptNotFound
		ss.Error = "cannot execute: interpreter not found (the #! line names a program this FEC does not have)"
	case err != nil && cmd.ProcessState == nil:
		ss.Action, ss.ExitCode = ActionFailed, ScriptNotExecutable
		ss.Error = "cannot execute: " + execErrText(err)
	case cmd.ProcessState != nil && cmd.ProcessState.Success():
		ss.Action = ActionRan // also when ErrWaitDelay: a daemon kept the output open
	default:
		ss.Action, ss.ExitCode = ActionFailed, cmd.ProcessState.ExitCode()
		ss.Error = fmt.Sprintf("exited with %s", cmd.ProcessState.String())
	}
	return ss
}

func execErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, syscall.ENOEXEC) {
		return err.Error() + " (no #! line?)"
	}
	return err.Error()
}

// lineWriter prefixes each line and keeps the last few lines.
type lineWriter struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	buf    []byte
	tail   []string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > 4096 {
				w.emit(w.buf)
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) emit(line []byte) {
	s := string(line)
	io.WriteString(w.out, w.prefix+s+"\n")
	w.tail = append(w.tail, s)
	if len(w.tail) > outputTail {
		w.tail = w.tail[len(w.tail)-outputTail:]
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}
