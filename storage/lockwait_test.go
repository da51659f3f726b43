package storage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdWithFlock holds the storage lock through flock(1), as a script would,
// until the test ends; it returns flock's pid.
func holdWithFlock(t *testing.T, lock string) int {
	t.Helper()
	flock := testenv.RequireTool(t, "flock")
	cmd := exec.Command(flock, "--exclusive", lock, "sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool { return len(flockHolders(lock)) > 0 }, 5*time.Second, 10*time.Millisecond, "flock(1) did not take the lock")
	return cmd.Process.Pid
}

// A lock held through flock(1) while the file still names an earlier holder
// that ended: the message says the recorded pid has ended and names the
// process the kernel lists as the holder.
func TestLockHolderNamedByWhatCanBeKnown(t *testing.T) {
	s := newTestStorage(t)
	lock := filepath.Join(s.Base(), LockName)
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	host, _ := os.Hostname()
	require.NoError(t, os.WriteFile(lock, []byte(fmt.Sprintf("pid=%d host=%s since=2020-01-01T00:00:00Z\n", dead.Process.Pid, host)), 0o644))
	flockPid := holdWithFlock(t, lock)

	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err := s.AddFEC(tctx, "fec01", FECConfig{Arch: "x86_64"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	msg := err.Error()
	assert.Contains(t, msg, "pid "+strconv.Itoa(flockPid)+" (flock) holds the flock", msg)
	assert.Contains(t, msg, fmt.Sprintf("recorded: pid %d since 2020-01-01T00:00:00Z, which has ended", dead.Process.Pid), msg)
	assert.NoDirExists(t, filepath.Join(s.Base(), "fecs/fec01"), "wrote without the lock")
}

// WithLockWait gives up after the limit (DeadlineExceeded, so exit code 5) and
// tells whom it waits for after a second.
func TestLockWaitLimitAndNotice(t *testing.T) {
	base := newTestStorage(t).Base()
	lock := filepath.Join(base, LockName)
	require.NoError(t, os.WriteFile(lock, nil, 0o644))
	holdWithFlock(t, lock)
	var notices atomic.Int32
	var holder atomic.Value
	s, err := Open(base, WithLockWait(1300*time.Millisecond, func(h string) { notices.Add(1); holder.Store(h) }))
	require.NoError(t, err)
	start := time.Now()
	err = s.AddFEC(ctx, "fec01", FECConfig{Arch: "x86_64"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "not free within 1.3s")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, int32(1), notices.Load(), "one notice after a second")
	h, _ := holder.Load().(string)
	assert.True(t, strings.Contains(h, "(flock) holds the flock"), "notice: %q", h)
}
