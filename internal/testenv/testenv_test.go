package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
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
