package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WithLockWait bounds how long a writer waits for the storage lock (0: until
// its context ends) and, when notice is not nil, calls it once after a
// second of waiting with a description of the holder (DescribeLockHolder), so
// a command can say "waiting for the storage lock held by …". Giving up
// returns an error wrapping context.DeadlineExceeded that names the holder.
func WithLockWait(wait time.Duration, notice func(holder string)) Option {
	return func(s *Storage) {
		s.mu.Lock()
		s.lockWait, s.lockNotice = wait, notice
		s.mu.Unlock()
	}
}

// lockNoticeAfter is how long a writer waits before it tells whom it waits for.
const lockNoticeAfter = time.Second

// lockWaiter tracks one wait in Lock: the limit and the notice.
type lockWaiter struct {
	path    string
	start   time.Time
	limit   time.Duration
	notice  func(string)
	noticed bool
}

func (s *Storage) newLockWaiter(p string) *lockWaiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &lockWaiter{path: p, start: time.Now(), limit: s.lockWait, notice: s.lockNotice}
}

// check is called while the lock is still taken: it sends the notice once
// after a second and returns an error when the limit has passed.
func (w *lockWaiter) check() error {
	waited := time.Since(w.start)
	if w.notice != nil && !w.noticed && waited >= lockNoticeAfter {
		w.noticed = true
		w.notice(DescribeLockHolder(w.path))
	}
	if w.limit > 0 && waited >= w.limit {
		return fmt.Errorf("storage: the storage lock %s was not free within %s (held by %s): %w",
			w.path, w.limit, DescribeLockHolder(w.path), context.DeadlineExceeded)
	}
	return nil
}

// DescribeLockHolder says what can be known about who holds the lock file p:
// the process the kernel lists as holding the flock (Linux /proc/locks, with
// its command name), and the holder fecdeploy recorded in the file, with
// whether that process still runs (checked only on this host). A lock taken
// by flock(1) in a script records nothing, so the recorded holder may be a
// process that ended long ago: the description says so instead of naming it
// as the holder.
func DescribeLockHolder(p string) string {
	var parts []string
	holders := flockHolders(p)
	for _, pid := range holders {
		d := "pid " + strconv.Itoa(pid)
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil {
			d += " (" + strings.TrimSpace(string(comm)) + ")"
		}
		parts = append(parts, d+" holds the flock")
	}
	rec, _ := os.ReadFile(p)
	fields := map[string]string{}
	for _, f := range strings.Fields(string(rec)) {
		if k, v, ok := strings.Cut(f, "="); ok {
			fields[k] = v
		}
	}
	pid, _ := strconv.Atoi(fields["pid"])
	host, _ := os.Hostname()
	switch {
	case pid <= 0:
		if len(holders) == 0 {
			parts = append(parts, "a process that did not record itself (e.g. flock(1) in a script; see fuser -v "+p+")")
		}
	case fields["host"] != "" && fields["host"] != host:
		parts = append(parts, fmt.Sprintf("recorded: pid %d on host %s since %s (another host: not checked)", pid, fields["host"], fields["since"]))
	case processAlive(pid) && (len(holders) == 0 || containsPID(holders, pid)):
		if !containsPID(holders, pid) {
			parts = append(parts, fmt.Sprintf("pid %d since %s (recorded, running)", pid, fields["since"]))
		}
	case processAlive(pid):
		parts = append(parts, fmt.Sprintf("recorded: pid %d since %s, still running but not the holder", pid, fields["since"]))
	default:
		d := fmt.Sprintf("recorded: pid %d since %s, which has ended", pid, fields["since"])
		if len(holders) == 0 {
			d += "; the current holder did not record itself (e.g. flock(1) in a script; see fuser -v " + p + ")"
		}
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		return "an unknown process"
	}
	return strings.Join(parts, "; ")
}

func containsPID(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// processAlive reports whether a process with this pid exists on this host.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// flockHolders lists the pids /proc/locks names as holding a flock on p
// (none when /proc/locks is not there).
func flockHolders(p string) []int {
	fi, err := os.Stat(p)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	dev := uint64(st.Dev) //nolint:unconvert // uint64 on some architectures, not on all
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 00:2e:5678 0 EOF"; waiters have "->" after the id.
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || fs[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil && !containsPID(pids, pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
