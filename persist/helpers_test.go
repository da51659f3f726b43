package persist_test

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/persist"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/stretchr/testify/require"
)

// world is a web storage and the FECs it persists: each FEC is a directory
// used as its root, reached through a real sshd on 127.0.0.1 whose login
// PATH holds only busybox applets (busybox tar on the FEC's side), under a
// Host alias of one ssh_config file (as in a user's ~/.ssh/config).
type world struct {
	st        *storage.Storage
	dir       string
	sshConfig string
	bbDir     string
	mu        sync.Mutex
}

func newWorld(t testing.TB) *world {
	t.Helper()
	_, bb := testenv.BusyboxPath(t)
	dir := t.TempDir()
	st, err := storage.Init(dir)
	require.NoError(t, err)
	w := &world{st: st, dir: dir, sshConfig: filepath.Join(t.TempDir(), "ssh_config"), bbDir: bb}
	require.NoError(t, os.WriteFile(w.sshConfig, nil, 0o644))
	return w
}

// sshd starts a FEC's sshd: busybox-only PATH, keyOptions prepended to the
// authorized key's other options.
func (w *world) sshd(t testing.TB, keyOptions ...string) *testenv.SSHD {
	t.Helper()
	opts := append([]string{`environment="PATH=` + w.bbDir + `"`}, keyOptions...)
	return testenv.StartSSHD(t, testenv.SSHDOptions{KeyOptions: strings.Join(opts, ",")})
}

// addHost appends a Host block to the ssh_config.
func (w *world) addHost(t testing.TB, block string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.sshConfig, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(block)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// addFEC adds a FEC reached through s (alias = FEC name) with its root in
// a temp dir and one data set Foo_DU = /opt/fesa/data/Foo_DU; it returns
// the root.
func (w *world) addFEC(t testing.TB, name string, s *testenv.SSHD, decoders ...string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, w.st.AddFEC(context.Background(), name, storage.FECConfig{Arch: "x86_64", Decoders: decoders,
		Other: map[string]string{"persist_root": root}}))
	if s != nil {
		w.addHost(t, s.HostBlock(name))
	}
	require.NoError(t, w.st.SetDataSet(context.Background(), name, storage.DataSet{Name: "Foo_DU", Dirs: []string{"/opt/fesa/data/Foo_DU"}}))
	return root
}

func (w *world) run(t testing.TB, opts persist.Options) ([]persist.Result, error) {
	t.Helper()
	opts.SSHArgs = append([]string{"-F", w.sshConfig}, opts.SSHArgs...)
	opts.ConnectTimeout = 5e9
	return persist.Run(context.Background(), w.st, opts)
}

// current is the current snapshot of a FEC's data set (zero when none).
func (w *world) current(t testing.TB, fec, set string) storage.Snapshot {
	t.Helper()
	snaps, err := w.st.Snapshots(context.Background(), fec)
	require.NoError(t, err)
	for _, s := range snaps {
		if s.Set == set && s.Current {
			return s
		}
	}
	return storage.Snapshot{}
}

// indexData is the path the FEC's INDEX names for a data set ("" none).
func (w *world) indexData(t testing.TB, fec, set string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, "fecs", fec, "INDEX"))
	require.NoError(t, err)
	ix, err := index.ParseBytes(b)
	require.NoError(t, err)
	for _, e := range ix.Entries {
		if e.Kind == index.KindData && e.Name == set {
			return e.Path
		}
	}
	return ""
}

// tempFiles lists temporary files left in the storage.
func (w *world) tempFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".fecdeploy-tmp-") {
			out = append(out, p)
		}
		return err
	}))
	return out
}

// listing is one entry of a stored snapshot.
type listing struct {
	Type     byte
	Linkname string
	Body     string
}

// readSnapshot decompresses and lists a stored snapshot.
func (w *world) readSnapshot(t testing.TB, rel string) map[string]listing {
	t.Helper()
	f, err := os.Open(filepath.Join(w.dir, filepath.FromSlash(rel)))
	require.NoError(t, err)
	defer f.Close()
	var r io.Reader
	switch {
	case strings.HasSuffix(rel, ".zst"):
		d, err := zstd.NewReader(f)
		require.NoError(t, err)
		defer d.Close()
		r = d
	case strings.HasSuffix(rel, ".gz"):
		d, err := pgzip.NewReader(f)
		require.NoError(t, err)
		r = d
	default:
		t.Fatalf("unknown snapshot format %s", rel)
	}
	tr := tar.NewReader(r)
	out := map[string]listing{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "snapshot %s does not list", rel)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = listing{Type: h.Typeflag, Linkname: h.Linkname, Body: string(b)}
	}
	return out
}

func writeFile(t testing.TB, p, body string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
}

// compressHere makes fec-persist compress a FEC's snapshots on the writer
// host (persist_compress=here in its fec.conf).
func compressHere(t testing.TB, w *world, fec string) {
	t.Helper()
	p := filepath.Join(w.dir, "fecs", fec, "fec.conf")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, append(b, "persist_compress=here\n"...), 0o644))
}
