package main

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

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The storm leaves nothing behind: after a normal end, after SIGINT and
// after SIGTERM in the middle of the storm, no namespace of the run, no
// process started in its work directory and no tmpfs mount remain. A tiny
// storm (2 FECs, one of them fec-boot.sh) on slow links, so that the
// signal meets it running. Namespaces get a prefix of their own, so a real
// benchmark running at the same time is not touched.
func TestCleanup(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "network namespaces need root")
	}
	for _, tool := range []string{"ip", "tc", "nginx", "busybox", "zstd"} {
		testenv.RequireTool(t, tool)
	}
	if out, err := exec.Command("ip", "netns", "add", "fstt-probe").CombinedOutput(); err != nil {
		testenv.Unavailable(t, "cannot create a network namespace: %v: %s", err, out)
	}
	require.NoError(t, exec.Command("ip", "netns", "del", "fstt-probe").Run())

	bin := filepath.Join(t.TempDir(), "storm")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	repo, err := filepath.Abs("../..")
	require.NoError(t, err)

	for _, sig := range []syscall.Signal{0, syscall.SIGINT, syscall.SIGTERM} {
		name := "normal-end"
		if sig != 0 {
			name = sig.String()
		}
		t.Run(name, func(t *testing.T) {
			prefix := fmt.Sprintf("fstt%d%c-", os.Getpid()%100000, 'a'+rune(sig%26))
			work := t.TempDir()
			cmd := exec.Command(bin, "-n", "2", "-shell", "0.5", "-payload-mb", "2", "-fec-rate", "2mbit",
				"-roots", "tmpfs", "-ns-prefix", prefix, "-out", work)
			cmd.Dir = repo
			var b bytes.Buffer
			cmd.Stdout, cmd.Stderr = &b, &b
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				// a failed check must not leave the storm running
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = exec.Command(bin, "-cleanup", "-ns-prefix", prefix).Run()
			})
			if sig != 0 {
				// Once the second FEC's namespace exists and its client runs.
				deadline := time.Now().Add(2 * time.Minute)
				for !running(work) {
					require.True(t, time.Now().Before(deadline), "the storm did not start:\n%s", b.String())
					time.Sleep(100 * time.Millisecond)
				}
				require.Contains(t, namespaces(prefix), prefix+"f1")
				require.NoError(t, cmd.Process.Signal(sig))
			}
			select {
			case err = <-done:
			case <-time.After(5 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("the storm did not end:\n%s", b.String())
			}
			if sig == 0 {
				require.NoError(t, err, "%s", b.String())
				assert.Contains(t, b.String(), "| failures | 0 |")
			} else {
				require.Error(t, err)
				assert.Contains(t, b.String(), "cleaning up")
			}
			// The kernel removes a deleted namespace's devices a moment later;
			// the names are gone at once.
			assert.Empty(t, namespaces(prefix), "namespaces left behind:\n%s", b.String())
			// Killed processes vanish once reaped.
			for end := time.Now().Add(3 * time.Second); len(processesIn(work)) > 0 && time.Now().Before(end); {
				time.Sleep(50 * time.Millisecond)
			}
			assert.Empty(t, processesIn(work), "processes left behind")
			mounts, _ := os.ReadFile("/proc/mounts")
			assert.NotContains(t, string(mounts), work, "the roots' tmpfs is still mounted")
		})
	}
}

// namespaces lists the network namespaces named prefix*.
func namespaces(prefix string) []string {
	b, _ := exec.Command("ip", "netns", "list").Output()
	var ns []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			ns = append(ns, f[0])
		}
	}
	return ns
}

// running reports whether a client of the storm in work runs (fec-boot or
// fec-boot.sh, both given --fec).
func running(work string) bool {
	for _, p := range processesIn(work) {
		if strings.Contains(p, "fec-boot") && strings.Contains(p, " --fec ") {
			return true
		}
	}
	return false
}

// processesIn returns the command lines of the processes whose command line
// names something under work (nginx, fec-boot, busybox sh fec-boot.sh).
func processesIn(work string) []string {
	var found []string
	pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		line := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(line, work+"/") && !strings.Contains(line, "storm -n") {
			found = append(found, line)
		}
	}
	return found
}
