package client_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallTmpfs mounts a tmpfs of size bytes (root only) and unmounts it when
// the test ends.
func smallTmpfs(t *testing.T, size string) string {
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("needs root to mount a small tmpfs")
		}
		testenv.Unavailable(t, "needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if testenv.InCI() {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		testenv.Unavailable(t, "cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A full state filesystem is a local write failure, reported once with the
// path (exit 5), not retried like the network; no status.json.tmp stays.
func TestFullStateFilesystem(t *testing.T) {
	t.Parallel()
	variants(t, func(t *testing.T, sh *clienttest.Shell) {
		_, ng, _ := bigSoftware(t)
		state := smallTmpfs(t, "64k")
		root := t.TempDir()
		r := sh.Run(t, env(ng.URL, root, "FECDEPLOY_STATE_DIR="+state, "FECDEPLOY_RETRIES=3"))
		require.Equal(t, 5, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "cannot write "+state+"/.work-")
		assert.Contains(t, r.Stderr, "local failure")
		assert.NotContains(t, r.Stderr, "attempt 1 failed", "not retried like a network error")
		assert.Equal(t, 1, strings.Count(ng.AccessLog(), ".tar.gz"), "downloaded once:\n%s", ng.AccessLog())
		assert.NoFileExists(t, filepath.Join(state, "status.json.tmp"))
		assert.NoDirExists(t, filepath.Join(root, "opt"))
		if b, err := os.ReadFile(filepath.Join(state, "status.json")); err == nil {
			var v map[string]any
			require.NoError(t, json.Unmarshal(b, &v), "status.json: %s", b)
			assert.Contains(t, v["error"], "cannot write")
		}
		// The status file itself cannot be written: said, no .tmp left.
		fill := filepath.Join(state, "fill")
		_ = exec.Command("dd", "if=/dev/zero", "of="+fill, "bs=4k", "count=1000").Run()
		r = sh.Run(t, env(ng.URL, root, "FECDEPLOY_STATE_DIR="+state))
		assert.Equal(t, 5, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "cannot write the status file "+state+"/status.json")
		assert.NoFileExists(t, filepath.Join(state, "status.json.tmp"))
	})
}

// Broken install records are repaired with a message in the summary and the
// status file, and a record path that is a directory does not make every
// boot reinstall.
func TestBrokenStateIsRepairedVisibly(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	st.Software(t, "fec01", "B", "1.0.0", clienttest.Tree("opt/b", map[string]string{"f": "b"}))
	st.Software(t, "fec01", "C", "1.0.0", clienttest.Tree("opt/c", map[string]string{"f": "c"}))
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	r := sh.Run(t, env(ng.URL, root))
	require.Equal(t, 0, r.Code, r.Stderr)
	rec := filepath.Join(root, "var/lib/fecdeploy/installed/software")
	require.NoError(t, os.WriteFile(filepath.Join(rec, "A"), []byte("sha256=12"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(rec, "B")))
	require.NoError(t, os.MkdirAll(filepath.Join(rec, "B", "x"), 0o755))

	r = sh.Run(t, env(ng.URL, root))
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "repaired  the install record "+filepath.Join(rec, "A")+" is corrupt")
	assert.Contains(t, r.Stdout, "repaired  the install record "+filepath.Join(rec, "B")+" is not a regular file")
	var s struct {
		Repairs []string `json:"repairs"`
		Entries []struct{ Name, Action string }
	}
	require.NoError(t, json.Unmarshal([]byte(testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/status.json"))), &s))
	assert.Len(t, s.Repairs, 2)
	actions := map[string]string{}
	for _, e := range s.Entries {
		actions[e.Name] = e.Action
	}
	assert.Equal(t, map[string]string{"A": "installed", "B": "installed", "C": "skipped"}, actions)

	// The next boot finds good records: nothing repaired, nothing reinstalled.
	r = sh.Run(t, env(ng.URL, root))
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.NotContains(t, r.Stdout, "repaired")
	assert.Contains(t, r.Stdout, "0 installed, 3 skipped")
}

// A signed INDEX rewritten about five times a second (a new INDEX, then its
// INDEX.sig, as a reindex renames them) is still accepted: the client
// fetches the pair again with backoff while it keeps changing.
func TestSignedIndexRewrittenOftenIsAccepted(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "openssl")
	key := clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	st.WriteIndex(t, "fec01", key.Private)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			ix := st.Index("fec01")
			ix.Attrs = map[string]string{"gen": strings.Repeat("x", i%50+1)}
			data, err := ix.Marshal()
			if err != nil {
				return
			}
			writeAtomic(t, filepath.Join(st.Dir, "fecs/fec01/INDEX"), data)
			time.Sleep(20 * time.Millisecond) // between the two renames
			writeAtomic(t, filepath.Join(st.Dir, "fecs/fec01/INDEX.sig"), index.Sign(key.Private, data))
			time.Sleep(180 * time.Millisecond)
		}
	}()
	defer func() { stop.Store(true); <-done }()
	keys := clienttest.KeyFile(t, key)
	for i := 0; i < 3; i++ {
		root := t.TempDir()
		r := sh.Run(t, env(ng.URL, root, "FECDEPLOY_PUBLIC_KEYS="+keys, "FECDEPLOY_DEADLINE=5m"))
		require.Equal(t, 0, r.Code, "boot %d\n%s", i, r.Stderr)
	}
}

func writeAtomic(t *testing.T, p string, data []byte) {
	tmp := p + ".tmp"
	if os.WriteFile(tmp, data, 0o644) == nil {
		_ = os.Rename(tmp, p)
	}
}

// A full disk while an archive is decompressed is a failure (exit 5, said
// with the place), never a success, even when no note can be written there.
func TestFullDiskDuringDecompression(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "Z", "1.0.0", clienttest.Tree("opt/z", map[string]string{"zeros": strings.Repeat("\x00", 8<<20)}))
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	state := smallTmpfs(t, "1m")
	root := t.TempDir()
	r := sh.Run(t, env(ng.URL, root, "FECDEPLOY_STATE_DIR="+state))
	require.Equal(t, 5, r.Code, "%s%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stderr, "cannot write the decompressed archive to "+state+"/.work-")
	assert.NoDirExists(t, filepath.Join(root, "opt/z"))
	if b, err := os.ReadFile(filepath.Join(state, "status.json")); err == nil {
		var v struct {
			ExitCode int `json:"exit_code"`
		}
		require.NoError(t, json.Unmarshal(b, &v), "status.json: %s", b)
		assert.Equal(t, 5, v.ExitCode)
	}
}

// The listing is watched while the archive is decompressed: an entry that
// takes the archive past 8 GiB stops the decompression there, before the
// rest of the tar is written.
func TestDecompressionStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "opt/big", Mode: 0o644, Size: 9 << 30, ModTime: clienttest.ModTime, Format: tar.FormatGNU}))
	_, err := tw.Write(make([]byte, 32<<20))
	require.NoError(t, err)
	st := clienttest.NewStorage(t)
	st.Put(t, "fec01", index.Entry{Kind: index.KindSoftware, Name: "Big", Path: "software/Big/1/big.tar.gz", Format: index.FormatGzip},
		clienttest.Compress(t, index.FormatGzip, b.Bytes()))
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	r := sh.Run(t, env(ng.URL, root))
	require.Equal(t, 4, r.Code, "%s%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stderr, "more than 8 GiB of files (decompression stopped there)")
	onlyState(t, root)
}
