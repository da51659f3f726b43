package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNginxServesSymlinks(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/f", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	n := StartNginx(t, root, NginxOptions{})
	code, body := n.Get(t, "link")
	if code != 200 || string(body) != "hello" {
		t.Fatalf("GET link = %d %q, want 200 hello", code, body)
	}
	if code, _ := n.Get(t, "missing"); code != 404 {
		t.Fatalf("GET missing = %d, want 404", code)
	}
}

func TestBusyboxPathHasOnlyApplets(t *testing.T) {
	bb, dir := BusyboxPath(t)
	cmd := exec.Command(bb, "sh", "-c", "command -v tar; command -v go || echo no-go")
	cmd.Env = []string{"PATH=" + dir}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "tar") + "\nno-go\n"
	if string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestSSHD(t *testing.T) {
	s := StartSSHD(t, SSHDOptions{})
	out, err := s.Run(t, "echo hello-from-$((20+22))")
	if err != nil || strings.TrimSpace(out) != "hello-from-42" {
		t.Fatalf("ssh: %v: %q (sshd: %s)", err, out, s.Log())
	}
	// A host key that is not in known_hosts is refused, never accepted.
	if err := os.WriteFile(s.KnownHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = s.Run(t, "true")
	if err == nil || !strings.Contains(out, "Host key verification failed") {
		t.Fatalf("unknown host key: want a refusal, got %v: %q", err, out)
	}
}
