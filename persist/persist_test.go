package persist_test

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/persist"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fooDir(root string) string { return filepath.Join(root, "opt/fesa/data/Foo_DU") }

// shellEnv is the environment of fec-boot.sh booting a FEC from url into root.
func shellEnv(url, fecName, root string) []string {
	return []string{"FECDEPLOY_URL=" + url, "FECDEPLOY_FEC=" + fecName, "FECDEPLOY_ROOT=" + root,
		"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_RETRIES=0", "FECDEPLOY_START_JITTER=0"}
}

type bootStatus struct {
	ExitCode int `json:"exit_code"`
	Entries  []struct {
		Kind, Name, Action, Error string
	} `json:"entries"`
}

func readBootStatus(t *testing.T, root string) bootStatus {
	t.Helper()
	var s bootStatus
	require.NoError(t, json.Unmarshal([]byte(testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/status.json"))), &s))
	return s
}

// A full loop: persist → the INDEX names the snapshot → the Go client (zstd
// FEC) and the shell client (gzip FEC, busybox) boot into a fresh root and
// restore it; a second boot over newer local data keeps it; --force restores.
func TestPersistThenBootRestores(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.sshd(t)
	goRoot := w.addFEC(t, "fec01", s)               // compressed on the writer host (zstd)
	shRoot := w.addFEC(t, "ppc01", s, "gzip", "xz") // gzip by the FEC's tar, stored verbatim
	compressHere(t, w, "fec01")
	for _, r := range []string{goRoot, shRoot} {
		writeFile(t, filepath.Join(fooDir(r), "settings.xml"), "<settings gain=\"3\"/>\n")
		writeFile(t, filepath.Join(fooDir(r), "sub/table.bin"), strings.Repeat("x", 100000))
		require.NoError(t, os.Symlink("settings.xml", filepath.Join(fooDir(r), "current.xml")))
	}
	results, err := w.run(t, persist.Options{})
	require.NoError(t, err)
	require.Len(t, results, 2)
	for _, r := range results {
		assert.Equal(t, persist.StatusPersisted, r.Status, r.Reason)
		require.Len(t, r.Sets, 1)
		assert.Equal(t, 1, r.Sets[0].Generation)
		assert.Equal(t, 2, r.Sets[0].Files)
	}
	assert.Equal(t, "fecs/fec01/persistent-data/Foo_DU/000001.tar.zst", w.indexData(t, "fec01", "Foo_DU"))
	assert.Equal(t, "fecs/ppc01/persistent-data/Foo_DU/000001.tar.gz", w.indexData(t, "ppc01", "Foo_DU"))
	snap := w.readSnapshot(t, "fecs/fec01/persistent-data/Foo_DU/000001.tar.zst")
	assert.Equal(t, listing{Type: tar.TypeSymlink, Linkname: "settings.xml"}, snap["opt/fesa/data/Foo_DU/current.xml"])
	assert.Equal(t, "<settings gain=\"3\"/>\n", snap["opt/fesa/data/Foo_DU/settings.xml"].Body)

	ng := testenv.StartNginx(t, w.dir, testenv.NginxOptions{})

	// Go client into a fresh root.
	fresh := t.TempDir()
	st, err := fec.Boot(context.Background(), fec.Config{BaseURL: ng.URL, FEC: "fec01", Root: fresh})
	require.NoError(t, err)
	assert.Equal(t, 0, st.ExitCode)
	assert.Equal(t, "<settings gain=\"3\"/>\n", testkit.ReadFile(t, filepath.Join(fooDir(fresh), "settings.xml")))
	assert.Equal(t, strings.Repeat("x", 100000), testkit.ReadFile(t, filepath.Join(fooDir(fresh), "sub/table.bin")))
	l, err := os.Readlink(filepath.Join(fooDir(fresh), "current.xml"))
	require.NoError(t, err)
	assert.Equal(t, "settings.xml", l)

	// Shell client (busybox) into a fresh root.
	sh := clienttest.NewShell(t)
	shFresh := t.TempDir()
	res := sh.Run(t, shellEnv(ng.URL, "ppc01", shFresh), "boot")
	require.Equal(t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	assert.Equal(t, "<settings gain=\"3\"/>\n", testkit.ReadFile(t, filepath.Join(fooDir(shFresh), "settings.xml")))
	assert.Equal(t, strings.Repeat("x", 100000), testkit.ReadFile(t, filepath.Join(fooDir(shFresh), "sub/table.bin")))

	// The FESA class changes its data; a second generation is stored.
	for _, r := range []string{goRoot, shRoot} {
		writeFile(t, filepath.Join(fooDir(r), "settings.xml"), "<settings gain=\"4\"/>\n")
		old := time.Now().Add(-time.Hour)
		require.NoError(t, os.Chtimes(filepath.Join(fooDir(r), "settings.xml"), old, old))
	}
	_, err = w.run(t, persist.Options{})
	require.NoError(t, err)
	assert.Equal(t, "fecs/fec01/persistent-data/Foo_DU/000002.tar.zst", w.indexData(t, "fec01", "Foo_DU"))

	// A FEC with a disk whose local data is newer than the snapshot keeps it.
	for _, r := range []string{fresh, shFresh} {
		writeFile(t, filepath.Join(fooDir(r), "settings.xml"), "<settings gain=\"9\"/> local\n")
	}
	st, err = fec.Boot(context.Background(), fec.Config{BaseURL: ng.URL, FEC: "fec01", Root: fresh})
	require.NoError(t, err)
	require.Len(t, st.Entries, 1)
	assert.Equal(t, fec.ActionKept, st.Entries[0].Action)
	assert.Contains(t, st.Entries[0].Error, "/opt/fesa/data/Foo_DU/settings.xml")
	assert.Equal(t, "<settings gain=\"9\"/> local\n", testkit.ReadFile(t, filepath.Join(fooDir(fresh), "settings.xml")))
	res = sh.Run(t, shellEnv(ng.URL, "ppc01", shFresh), "boot")
	require.Equal(t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	bs := readBootStatus(t, shFresh)
	require.Len(t, bs.Entries, 1)
	assert.Equal(t, "kept", bs.Entries[0].Action)
	assert.Contains(t, bs.Entries[0].Error, "/opt/fesa/data/Foo_DU/settings.xml")
	assert.Equal(t, "<settings gain=\"9\"/> local\n", testkit.ReadFile(t, filepath.Join(fooDir(shFresh), "settings.xml")))

	// --force restores the snapshot over it (a deliberate choice).
	st, err = fec.Boot(context.Background(), fec.Config{BaseURL: ng.URL, FEC: "fec01", Root: fresh, Force: true})
	require.NoError(t, err)
	assert.Equal(t, fec.ActionInstalled, st.Entries[0].Action)
	assert.Equal(t, "<settings gain=\"4\"/>\n", testkit.ReadFile(t, filepath.Join(fooDir(fresh), "settings.xml")))
	res = sh.Run(t, append(shellEnv(ng.URL, "ppc01", shFresh), "FECDEPLOY_FORCE=true"), "boot")
	require.Equal(t, 0, res.Code, "stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	assert.Equal(t, "<settings gain=\"4\"/>\n", testkit.ReadFile(t, filepath.Join(fooDir(shFresh), "settings.xml")))

	// An older generation made current again is what a fresh boot restores.
	_, err = w.st.RestoreGeneration(context.Background(), "fec01", "Foo_DU", 1)
	require.NoError(t, err)
	assert.Equal(t, "fecs/fec01/persistent-data/Foo_DU/000001.tar.zst", w.indexData(t, "fec01", "Foo_DU"))
	fresh2 := t.TempDir()
	_, err = fec.Boot(context.Background(), fec.Config{BaseURL: ng.URL, FEC: "fec01", Root: fresh2})
	require.NoError(t, err)
	assert.Equal(t, "<settings gain=\"3\"/>\n", testkit.ReadFile(t, filepath.Join(fooDir(fresh2), "settings.xml")))
}

// A writer appending to a file while tar reads it: every snapshot lists,
// and the file in it is a prefix of what the writer wrote.
func TestWriterAppendingDuringCopy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	root := w.addFEC(t, "fec01", w.sshd(t))
	log := filepath.Join(fooDir(root), "journal.log")
	writeFile(t, log, strings.Repeat("0123456789abcdef\n", 1<<16)) // 1 MiB to start with
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		for i := 0; !stop.Load(); i++ {
			fmt.Fprintf(f, "line %08d %s\n", i, strings.Repeat("y", 200))
			if i%16 == 0 {
				time.Sleep(time.Millisecond) // a busy FESA class, not a disk benchmark
			}
		}
	}()
	var results []persist.Result
	for range 3 {
		rs, err := w.run(t, persist.Options{})
		require.NoError(t, err)
		results = append(results, rs...)
	}
	stop.Store(true)
	wg.Wait()
	final := testkit.ReadFile(t, log)
	for _, r := range results {
		require.Equal(t, persist.StatusPersisted, r.Status, r.Reason)
		snap := w.readSnapshot(t, r.Sets[0].Path)
		got := snap["opt/fesa/data/Foo_DU/journal.log"].Body
		assert.GreaterOrEqual(t, len(got), 1<<20)
		assert.True(t, strings.HasPrefix(final, got), "generation %d holds a journal that is not a prefix of the file", r.Sets[0].Generation)
	}
	assert.Equal(t, 3, w.current(t, "fec01", "Foo_DU").Generation)
}

// The FEC disappears mid-copy (its sshd session is killed): the previous
// snapshot stays current, the INDEX is unchanged, no temporary file stays.
func TestSessionKilledKeepsPrevious(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	slow := filepath.Join(t.TempDir(), "slow")
	script := filepath.Join(t.TempDir(), "forced.sh")
	// After the first 256 KiB the FEC stalls while slow exists.
	writeFile(t, script, "#!/bin/sh\nif [ -e "+slow+" ]; then sh -c \"$SSH_ORIGINAL_COMMAND\" | { head -c 262144; sleep 60; cat; }; else exec sh -c \"$SSH_ORIGINAL_COMMAND\"; fi\n")
	require.NoError(t, os.Chmod(script, 0o755))
	s := w.sshd(t, `command="`+script+`"`)
	root := w.addFEC(t, "fec01", s)
	random := make([]byte, 4<<20)
	_, _ = rand.Read(random)
	writeFile(t, filepath.Join(fooDir(root), "state.bin"), string(random))
	_, err := w.run(t, persist.Options{})
	require.NoError(t, err)
	before := testkit.Snapshot(t, filepath.Join(w.dir, "fecs"))

	writeFile(t, slow, "")
	writeFile(t, filepath.Join(fooDir(root), "state2.bin"), string(random))
	done := make(chan []persist.Result)
	go func() {
		rs, _ := w.run(t, persist.Options{})
		done <- rs
	}()
	// Wait until the snapshot is being written, then cut the FEC off.
	require.Eventually(t, func() bool { return len(w.tempFiles(t)) > 0 }, 20*time.Second, 10*time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // connected, the first 256 KiB copied
	require.Eventually(t, func() bool { return s.KillSessions(t) > 0 }, 10*time.Second, 50*time.Millisecond)
	var rs []persist.Result
	select {
	case rs = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("fec-persist did not notice the FEC disappearing")
	}
	require.Len(t, rs, 1)
	assert.Equal(t, persist.StatusFailed, rs[0].Status)
	assert.ErrorIs(t, rs[0].Err, persist.ErrRemote)
	assert.Equal(t, 1, w.current(t, "fec01", "Foo_DU").Generation)
	assert.Equal(t, before, testkit.Snapshot(t, filepath.Join(w.dir, "fecs")), "the storage changed")
	assert.Empty(t, w.tempFiles(t))
}

// Symlinks to /etc/shadow and out of the data set are stored as links (the
// target's content is never read), reported, and refused at restore by both
// clients with nothing written.
func TestSymlinksStoredNotFollowed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.sshd(t)
	root := w.addFEC(t, "fec01", s)
	shRoot := w.addFEC(t, "ppc01", s, "gzip")
	for _, r := range []string{root, shRoot} {
		writeFile(t, filepath.Join(fooDir(r), "ok.txt"), "fine\n")
		require.NoError(t, os.Symlink("/etc/shadow", filepath.Join(fooDir(r), "shadow")))
		require.NoError(t, os.Symlink("../../../../", filepath.Join(fooDir(r), "up")))
	}
	results, err := w.run(t, persist.Options{})
	require.NoError(t, err)
	for _, r := range results {
		require.Equal(t, persist.StatusPersisted, r.Status, r.Reason)
		assert.Len(t, r.Sets[0].Warnings, 2)
		snap := w.readSnapshot(t, r.Sets[0].Path)
		assert.Equal(t, listing{Type: tar.TypeSymlink, Linkname: "/etc/shadow"}, snap["opt/fesa/data/Foo_DU/shadow"])
		assert.Equal(t, listing{Type: tar.TypeSymlink, Linkname: "../../../../"}, snap["opt/fesa/data/Foo_DU/up"])
	}
	ng := testenv.StartNginx(t, w.dir, testenv.NginxOptions{})
	fresh := t.TempDir()
	st, err := fec.Boot(context.Background(), fec.Config{BaseURL: ng.URL, FEC: "fec01", Root: fresh})
	require.Error(t, err)
	assert.ErrorIs(t, err, fec.ErrVerify)
	assert.Equal(t, fec.ActionFailed, st.Entries[0].Action)
	assert.NoDirExists(t, filepath.Join(fresh, "opt/fesa"))

	shFresh := t.TempDir()
	res := clienttest.NewShell(t).Run(t, shellEnv(ng.URL, "ppc01", shFresh), "boot")
	assert.NotEqual(t, 0, res.Code)
	assert.Contains(t, res.Stderr, "unsafe")
	assert.NoDirExists(t, filepath.Join(shFresh, "opt/fesa"))
}

// An empty or missing data set (a FEC that rebooted and has not restored)
// keeps the previous snapshot; -allow-empty stores the empty one.
func TestEmptyDataSetKeepsPrevious(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	root := w.addFEC(t, "fec01", w.sshd(t))
	writeFile(t, filepath.Join(fooDir(root), "a.txt"), "a\n")
	_, err := w.run(t, persist.Options{})
	require.NoError(t, err)
	before := testkit.Snapshot(t, filepath.Join(w.dir, "fecs"))

	for _, empty := range []func(){
		func() { require.NoError(t, os.Remove(filepath.Join(fooDir(root), "a.txt"))) }, // empty directory
		func() { require.NoError(t, os.RemoveAll(filepath.Join(root, "opt"))) },        // missing
	} {
		empty()
		rs, err := w.run(t, persist.Options{})
		require.ErrorIs(t, err, persist.ErrIncomplete)
		assert.Equal(t, persist.StatusKept, rs[0].Status)
		assert.ErrorIs(t, rs[0].Sets[0].Err, persist.ErrEmpty)
		assert.Contains(t, rs[0].Reason, "previous snapshot stays current")
		assert.Equal(t, before, testkit.Snapshot(t, filepath.Join(w.dir, "fecs")), "the storage changed")
		assert.Empty(t, w.tempFiles(t))
	}
	rs, err := w.run(t, persist.Options{AllowEmpty: true})
	require.NoError(t, err)
	assert.Equal(t, 2, rs[0].Sets[0].Generation)
	assert.Equal(t, "fecs/fec01/persistent-data/Foo_DU/000002.tar.gz", w.indexData(t, "fec01", "Foo_DU"))
}

// The storage's disk fills up while a snapshot is written: the previous
// snapshot stays, no temporary file is left.
func TestDiskFullKeepsPrevious(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("mounting a tmpfs needs root")
		}
		testenv.Unavailable(t, "mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		if testenv.InCI() {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		testenv.Unavailable(t, "cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	st, err := storage.Init(filepath.Join(mnt, "storage"))
	require.NoError(t, err)
	w := newWorld(t)
	w.st, w.dir = st, st.Base()
	root := w.addFEC(t, "fec01", w.sshd(t))
	writeFile(t, filepath.Join(fooDir(root), "a.txt"), "small\n")
	_, err = w.run(t, persist.Options{})
	require.NoError(t, err)
	before := testkit.Snapshot(t, filepath.Join(w.dir, "fecs"))

	random := make([]byte, 3<<20)
	_, _ = rand.Read(random)
	writeFile(t, filepath.Join(fooDir(root), "big.bin"), string(random))
	rs, err := w.run(t, persist.Options{})
	require.ErrorIs(t, err, persist.ErrIncomplete)
	assert.Equal(t, persist.StatusFailed, rs[0].Status)
	assert.Contains(t, rs[0].Reason, "no space left on device")
	assert.Equal(t, before, testkit.Snapshot(t, filepath.Join(w.dir, "fecs")), "the storage changed")
	assert.Empty(t, w.tempFiles(t))
}

// 20 FECs in one run, two of them unreachable (nothing listens; a host key
// that does not match): the 18 others are persisted, the two are reported
// with ssh's reason, the run says not every FEC was persisted.
func TestManyFECsTwoUnreachable(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var wg sync.WaitGroup
	sshds := make([]*testenv.SSHD, 18)
	for i := range sshds {
		wg.Add(1)
		go func() { defer wg.Done(); sshds[i] = w.sshd(t) }()
	}
	wg.Wait()
	for i, s := range sshds {
		root := w.addFEC(t, fmt.Sprintf("fec%02d", i+1), s)
		writeFile(t, filepath.Join(fooDir(root), "data.txt"), fmt.Sprintf("FEC %d\n", i+1))
	}
	// dead01: nothing listens on its port.
	w.addFEC(t, "dead01", nil)
	w.addHost(t, fmt.Sprintf("Host dead01\n  HostName 127.0.0.1\n  Port %d\n  BatchMode yes\n", testenv.FreePort(t)))
	// spoof01: a server whose host key is not the one known for it.
	w.addFEC(t, "spoof01", nil)
	other := w.sshd(t)
	block := strings.Replace(other.HostBlock("spoof01"), other.KnownHosts, sshds[0].KnownHosts, 1)
	block = strings.Replace(block, fmt.Sprintf("Port %d", other.Port), fmt.Sprintf("Port %d", other.Port), 1)
	// sshds[0]'s known_hosts names its own port; give it other's port.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	khb := strings.Replace(testkit.ReadFile(t, sshds[0].KnownHosts), fmt.Sprintf(":%d]", sshds[0].Port), fmt.Sprintf(":%d]", other.Port), 1)
	writeFile(t, kh, khb)
	w.addHost(t, strings.Replace(block, sshds[0].KnownHosts, kh, 1))

	var done []string
	var mu sync.Mutex
	start := time.Now()
	rs, err := w.run(t, persist.Options{Parallel: 6, Done: func(r persist.Result) {
		mu.Lock()
		done = append(done, r.FEC)
		mu.Unlock()
	}})
	require.ErrorIs(t, err, persist.ErrIncomplete)
	t.Logf("20 FECs in %s", time.Since(start))
	require.Len(t, rs, 20)
	assert.Len(t, done, 20)
	failed := map[string]string{}
	for _, r := range rs {
		if r.Status == persist.StatusFailed {
			failed[r.FEC] = r.Reason
			assert.ErrorIs(t, r.Err, persist.ErrRemote)
			continue
		}
		assert.Equal(t, persist.StatusPersisted, r.Status, r.FEC)
		assert.Equal(t, fmt.Sprintf("fecs/%s/persistent-data/Foo_DU/000001.tar.gz", r.FEC), w.indexData(t, r.FEC, "Foo_DU"))
	}
	require.Len(t, failed, 2)
	assert.Contains(t, failed["dead01"], "Connection refused")
	assert.Contains(t, failed["spoof01"], "Host key verification failed")
	assert.Equal(t, "", w.indexData(t, "dead01", "Foo_DU"))
}

// More than the quota: refused while streaming, the previous snapshot stays.
func TestQuota(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	root := w.addFEC(t, "fec01", w.sshd(t))
	writeFile(t, filepath.Join(fooDir(root), "a.txt"), "small\n")
	_, err := w.run(t, persist.Options{})
	require.NoError(t, err)
	before := testkit.Snapshot(t, filepath.Join(w.dir, "fecs"))
	random := make([]byte, 1<<20)
	_, _ = rand.Read(random)
	writeFile(t, filepath.Join(fooDir(root), "big.bin"), string(random))
	rs, err := w.run(t, persist.Options{Quota: 256 << 10})
	require.ErrorIs(t, err, persist.ErrIncomplete)
	assert.ErrorIs(t, rs[0].Err, persist.ErrQuota)
	assert.Equal(t, before, testkit.Snapshot(t, filepath.Join(w.dir, "fecs")))
	assert.Empty(t, w.tempFiles(t))
}

// A FIFO in a data set (busybox tar archives it) is refused: snapshots hold
// only directories, files and symlinks.
func TestFIFORefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	root := w.addFEC(t, "fec01", w.sshd(t))
	writeFile(t, filepath.Join(fooDir(root), "a.txt"), "a\n")
	require.NoError(t, exec.Command("mkfifo", filepath.Join(fooDir(root), "pipe")).Run())
	rs, err := w.run(t, persist.Options{})
	require.ErrorIs(t, err, persist.ErrIncomplete)
	assert.ErrorIs(t, rs[0].Err, persist.ErrUnsafe)
	assert.Contains(t, rs[0].Reason, "named pipe")
	assert.Equal(t, 0, w.current(t, "fec01", "Foo_DU").Generation)
	assert.Empty(t, w.tempFiles(t))
}

// Generations beyond Keep go, oldest first; the INDEX names the newest.
func TestGenerationsKept(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	root := w.addFEC(t, "fec01", w.sshd(t))
	for i := 1; i <= 4; i++ {
		writeFile(t, filepath.Join(fooDir(root), "a.txt"), fmt.Sprintf("v%d\n", i))
		_, err := w.run(t, persist.Options{Keep: 2})
		require.NoError(t, err)
	}
	snaps, err := w.st.Snapshots(context.Background(), "fec01")
	require.NoError(t, err)
	require.Len(t, snaps, 2)
	assert.Equal(t, []int{3, 4}, []int{snaps[0].Generation, snaps[1].Generation})
	assert.True(t, snaps[1].Current)
	assert.Equal(t, "fecs/fec01/persistent-data/Foo_DU/000004.tar.gz", w.indexData(t, "fec01", "Foo_DU"))
	_, err = w.st.RestoreGeneration(context.Background(), "fec01", "Foo_DU", 1)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.True(t, errors.Is(err, storage.ErrNotFound))
}
