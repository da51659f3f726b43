package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SSHD is a running OpenSSH server on 127.0.0.1 with its own host key and
// one authorized client key, stopped when the test ends. It plays a FEC (or
// the writer host) for tests of dev releases, persistent-data pulls and the
// release service's restart/reboot commands.
type SSHD struct {
	Port       int
	Addr       string // 127.0.0.1:<port>
	Dir        string // config, keys, known_hosts, log
	ClientKey  string // private key the client authenticates with
	KnownHosts string // a known_hosts file that holds the server's host key
	User       string // the login user (the current user)
	cmd        *exec.Cmd
	log        bytes.Buffer
}

// SSHDOptions tune StartSSHD.
type SSHDOptions struct {
	// KeyOptions prefix the client key's line in authorized_keys, e.g.
	// `command="/path/to/forced",no-pty` or `environment="PATH=/bb"`
	// (environment= needs PermitUserEnvironment, which is set).
	KeyOptions string
	// Config is appended to sshd_config (e.g. "ClientAliveInterval 1").
	Config string
}

// StartSSHD starts /usr/sbin/sshd on a free loopback port. Locally a missing
// sshd or ssh-keygen skips the test; under CI=true it fails it.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	RequireTool(t, "sshd", "/usr/sbin/sshd")
	RequireTool(t, "ssh-keygen")
	RequireTool(t, "ssh")
	s, err := NewSSHD(t.TempDir(), FreePort(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	WaitPort(t, s.Addr, 10*time.Second)
	return s
}

// NewSSHD starts sshd on 127.0.0.1:port with its configuration and keys in
// dir, for programs that are not tests (benchmarks); the caller calls Stop.
func NewSSHD(dir string, port int, opts SSHDOptions) (*SSHD, error) {
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		if sshd, err = exec.LookPath("sshd"); err != nil {
			return nil, fmt.Errorf("sshd not found: %w", err)
		}
	}
	for _, k := range []string{"host_key", "client_key"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k, "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("ssh-keygen %s: %v: %s", k, err, out)
		}
	}
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client_key.pub"))
	if err != nil {
		return nil, err
	}
	line := strings.TrimSpace(string(pub))
	if opts.KeyOptions != "" {
		line = opts.KeyOptions + " " + line
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(line+"\n"), 0o600); err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(string(hostPub))
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1])), 0o644); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
PermitUserEnvironment yes
AcceptEnv LANG LC_*
LogLevel ERROR
%s
`, port, filepath.Join(dir, "host_key"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), opts.Config)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	s := &SSHD{Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir,
		ClientKey: filepath.Join(dir, "client_key"), KnownHosts: filepath.Join(dir, "known_hosts")}
	if u := os.Getenv("USER"); u != "" {
		s.User = u
	} else if out, err := exec.Command("id", "-un").Output(); err == nil {
		s.User = strings.TrimSpace(string(out))
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stderr = &s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting sshd: %v", err)
	}
	s.cmd = cmd
	return s, nil
}

func writeFile(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// SSHArgs are the options of the system ssh client for this server: no user
// configuration, the test's key, host keys checked against KnownHosts,
// never a prompt.
func (s *SSHD) SSHArgs() []string {
	return []string{"-F", "/dev/null", "-p", fmt.Sprint(s.Port), "-i", s.ClientKey,
		"-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + s.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5"}
}

// Target is user@127.0.0.1, the host argument of ssh.
func (s *SSHD) Target() string { return s.User + "@127.0.0.1" }

// SSHConfig writes an ssh_config file with a Host alias for this server
// (port, key, known_hosts, BatchMode) and returns its path, for tools that
// take "ssh -F <file> <alias>" the way users configure ~/.ssh/config.
func (s *SSHD) SSHConfig(t testing.TB, alias string) string {
	t.Helper()
	p, err := s.WriteSSHConfig(alias)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteSSHConfig is SSHConfig for programs that are not tests.
func (s *SSHD) WriteSSHConfig(alias string) (string, error) {
	p := filepath.Join(s.Dir, "ssh_config-"+alias)
	return p, os.WriteFile(p, []byte(fmt.Sprintf(`Host %s
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
`, alias, s.Port, s.User, s.ClientKey, s.KnownHosts)), 0o644)
}

// Run runs a command on the server through the system ssh client and
// returns its combined output.
func (s *SSHD) Run(t testing.TB, command string) (string, error) {
	t.Helper()
	args := append(s.SSHArgs(), s.Target(), command)
	out, err := exec.Command("ssh", args...).CombinedOutput()
	return string(out), err
}

// Log returns what sshd wrote to stderr so far.
func (s *SSHD) Log() string { return s.log.String() }

// Stop stops sshd and every session it started (idempotent).
func (s *SSHD) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}
