package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Errors of the ssh transport; test with errors.Is / errors.As.
var (
	// ErrSSH: ssh itself failed (connection, authentication, host key).
	ErrSSH = errors.New("publish: ssh failed")
	// ErrHostKey: the remote host key is unknown or changed; nothing was sent.
	ErrHostKey = errors.New("publish: ssh host key not trusted")
)

// RemoteError is a remote command that ran and exited non-zero.
type RemoteError struct {
	Host     string
	Command  string // what ran, for the message
	ExitCode int
	Stderr   string // what it said (last lines)
}

func (e *RemoteError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("%s on %s exited with %d: %s", e.Command, e.Host, e.ExitCode, msg)
}

// SSH runs commands on another host with the system OpenSSH client, so the
// user's keys, agent, known_hosts and ~/.ssh/config apply. Every call runs
// in BatchMode (never a prompt), with a connect timeout and keep-alives,
// and with host keys checked strictly: an unknown host is refused with a
// message saying how to add its key.
type SSH struct {
	// Host is what ssh connects to: a host name, user@host, or a Host alias
	// of the ssh configuration.
	Host string
	// Port, when not 0, overrides the configured port.
	Port int
	// ConfigFile is passed as ssh -F (default: ~/.ssh/config as usual).
	ConfigFile string
	// Program is the ssh binary. Default "ssh".
	Program string
	// ConnectTimeout default 10s; ServerAlive interval 15s, 3 missed answers
	// end the connection.
	ConnectTimeout time.Duration
	// Options are further -o settings ("Key=Value").
	Options []string
}

// args are the ssh arguments before the remote command.
func (s SSH) args() []string {
	ct := s.ConnectTimeout
	if ct <= 0 {
		ct = 10 * time.Second
	}
	var a []string
	if s.ConfigFile != "" {
		a = append(a, "-F", s.ConfigFile)
	}
	if s.Port != 0 {
		a = append(a, "-p", fmt.Sprint(s.Port))
	}
	a = append(a, "-o", "BatchMode=yes",
		"-o", fmt.Sprintf("ConnectTimeout=%d", int((ct+time.Second-1)/time.Second)),
		"-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
		"-o", "StrictHostKeyChecking=yes")
	for _, o := range s.Options {
		a = append(a, "-o", o)
	}
	return append(a, "--", s.Host)
}

func (s SSH) program() string {
	if s.Program != "" {
		return s.Program
	}
	return "ssh"
}

// Run runs command (a POSIX shell command line; quote arguments with
// ShellQuote) on the host, with stdin and stdout connected. A failure of
// ssh itself wraps ErrSSH (ErrHostKey for host key problems); a remote
// command exiting non-zero is a *RemoteError.
// label names the command in errors (e.g. "fec-boot install-archive").
func (s SSH) Run(ctx context.Context, label, command string, stdin io.Reader, stdout io.Writer) error {
	if s.Host == "" {
		return fmt.Errorf("%w: no host given", ErrSSH)
	}
	cmd := exec.CommandContext(ctx, s.program(), append(s.args(), command)...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: to %s: %w", ErrSSH, s.Host, context.Cause(ctx))
	}
	msg := strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("%w: running %s: %v", ErrSSH, s.program(), err)
	}
	if ee.ExitCode() == 255 {
		if strings.Contains(msg, "Host key verification failed") || strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
			strings.Contains(msg, "No ED25519 host key is known") || strings.Contains(msg, "host key is known") {
			return fmt.Errorf("%w: %s: %s\nthe host key of %s is not in your known_hosts (or changed): check its fingerprint with the host's administrator, then add it with\n  ssh-keyscan -H %s >> ~/.ssh/known_hosts\n(or connect once interactively: ssh %s); nothing was sent",
				ErrHostKey, s.Host, msg, s.Host, s.keyscanTarget(), s.Host)
		}
		return fmt.Errorf("%w: to %s: %s (check the host name, your key (ssh-add -l) and that `ssh %s true` works)", ErrSSH, s.Host, msg, s.Host)
	}
	return &RemoteError{Host: s.Host, Command: label, ExitCode: ee.ExitCode(), Stderr: msg}
}

func (s SSH) keyscanTarget() string {
	h := s.Host
	if i := strings.LastIndex(h, "@"); i >= 0 {
		h = h[i+1:]
	}
	if s.Port != 0 {
		return fmt.Sprintf("-p %d %s", s.Port, h)
	}
	return h
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes each argument and joins them with spaces.
func shellJoin(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct{ b bytes.Buffer }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if t.b.Len() > 16<<10 {
		rest := append([]byte(nil), t.b.Bytes()[t.b.Len()-8<<10:]...)
		t.b.Reset()
		t.b.Write(rest)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return t.b.String() }
