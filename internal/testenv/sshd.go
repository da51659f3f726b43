package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	return p, os.WriteFile(p, []byte(s.HostBlock(alias)), 0o644)
}

// HostBlock is the ssh_config "Host alias" block for this server (port,
// key, known_hosts, BatchMode), to put several servers into one file the
// way users configure ~/.ssh/config.
func (s *SSHD) HostBlock(alias string) string {
	return fmt.Sprintf(`Host %s
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
`, alias, s.Port, s.User, s.ClientKey, s.KnownHosts)
}

// KillSessions kills (SIGKILL) every session sshd has forked so far, the
// way a FEC that loses power mid-transfer drops its connections; sshd
// itself keeps listening.
func (s *SSHD) KillSessions(t testing.TB) int {
	t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	parent := s.cmd.Process.Pid
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("listing /proc: %v", err)
	}
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				n++
			}
		}
	}
	return n
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
