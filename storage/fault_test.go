package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mount runs mount(8) and unmounts in Cleanup. Not permitted (not root, a
// restricted container): skip locally, fail under CI=true.
func mount(t *testing.T, args ...string) {
	t.Helper()
	bin := testenv.RequireTool(t, "mount")
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("mount %s: %v: %s", strings.Join(args, " "), err, out)
		require.False(t, testenv.InCI(), "CI=true: %s", msg)
		t.Skip(msg)
	}
	if args[0] == "-o" && strings.HasPrefix(args[1], "remount") {
		return // the first mount's Cleanup unmounts
	}
	target := args[len(args)-1]
	t.Cleanup(func() {
		if out, err := exec.Command("umount", target).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", target, err, out)
		}
	})
}

// requireRootOrSkip: tests that mount need root; as non-root they skip
// unless CI=true (where the CI image runs them as root).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		require.False(t, testenv.InCI(), "CI=true: this test needs root (mount)")
		testenv.Unavailable(t, "needs root to mount")
	}
}

// TestReadOnlyStorage: every mutating call on a storage that cannot be
// written fails with the OS error, and nothing changes.
func TestReadOnlyStorage(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	before := snapshot(t, s.Base())

	var ro *Storage
	var wantErrno syscall.Errno
	if os.Geteuid() == 0 {
		// Permission bits do not stop root: a read-only bind mount does.
		view := t.TempDir()
		mount(t, "--bind", s.Base(), view)
		mount(t, "-o", "remount,bind,ro", view)
		var err error
		ro, err = Open(view)
		require.NoError(t, err)
		wantErrno = syscall.EROFS
	} else {
		for _, d := range []string{"", "software", "software/Foo", "fecs", "fecs/fec01", "fecs/fec01/software"} {
			p := filepath.Join(s.Base(), d)
			require.NoError(t, os.Chmod(p, 0o555))
			t.Cleanup(func() { os.Chmod(p, 0o755) })
		}
		ro = s
		wantErrno = syscall.EACCES
	}
	_, err := ro.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("3.0.0"), Arch: "x86_64", Body: bytes.NewReader(blob(index.FormatZstd, 100, 3))})
	require.ErrorIs(t, err, wantErrno, "publish")
	require.ErrorIs(t, ro.Link(ctx, "fec01", index.KindSoftware, "Foo", "2.0.0"), wantErrno, "link")
	require.ErrorIs(t, ro.AddFEC(ctx, "fec02", FECConfig{Arch: "x86_64"}), wantErrno, "add FEC")
	assert.Equal(t, before, snapshot(t, s.Base()), "a refused write changed the storage")
}

// TestDiskFull: a publish that runs out of space fails with ENOSPC, leaves
// no partial file under the final name and no temp file, and the INDEX is
// unchanged.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	dir := t.TempDir()
	mount(t, "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir)
	s, err := Init(dir)
	require.NoError(t, err)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 10<<10, 1))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	before := snapshot(t, dir)

	_, err = s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("2.0.0"), Arch: "x86_64",
		Body: bytes.NewReader(blob(index.FormatZstd, 1<<20, 2))})
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Contains(t, err.Error(), "nothing was published")
	assert.Contains(t, err.Error(), "Foo 2.0.0")
	require.Len(t, tempFiles(t, dir), 0, "temp file left")
	assert.Equal(t, before, snapshot(t, dir), "a failed publish changed the storage")
	_, err = os.Stat(filepath.Join(dir, "software/Foo/2.0.0"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the version folder created for the failed publish is still there")

	// The dev version, replaced in place, keeps its old bytes when the new ones do not fit.
	old := blob(index.FormatZstd, 10<<10, 3)
	mustPublish(t, s, index.KindSoftware, "Foo", "dev", "x86_64", old)
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "dev"))
	before = snapshot(t, dir)
	_, err = s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo", Version: version.MustParse("dev"), Arch: "x86_64",
		Body: bytes.NewReader(blob(index.FormatZstd, 1<<20, 4))})
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, before, snapshot(t, dir))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems)
}

// The helper process: TestHelperPublisher is run by the tests below as a
// separate process (os.Args[0] -test.run=^TestHelperPublisher$) with
// FECDEPLOY_HELPER set.
const helperEnv = "FECDEPLOY_HELPER"

// slowReader produces n bytes of a blob in chunks, sleeping between them.
type slowReader struct {
	data  []byte
	chunk int
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, nil
	}
	time.Sleep(r.pause)
	n := min(len(p), r.chunk, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, nil
	}
	return n, nil
}

func helperContent(name string, i int) []byte {
	return blob(index.FormatZstd, 2000+i*37, int64(len(name)*1000+i))
}

func TestHelperPublisher(t *testing.T) {
	t.Parallel()
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("run by other tests as a separate process")
	}
	s, err := Open(os.Getenv("FECDEPLOY_BASE"))
	require.NoError(t, err)
	name := os.Getenv("FECDEPLOY_NAME")
	n, _ := strconv.Atoi(os.Getenv("FECDEPLOY_COUNT"))
	switch mode {
	case "slow":
		// A large stream, slowly: killed in the middle by the test.
		body := &slowReader{data: blob(index.FormatZstd, 64<<20, 7), chunk: 64 << 10, pause: 2 * time.Millisecond}
		_, err := s.Publish(context.Background(), PublishRequest{Kind: index.KindSoftware, Name: name, Version: version.MustParse("9.0.0"), Arch: "x86_64", Body: body})
		t.Fatalf("the slow publish ended (%v); it should have been killed", err)
	case "loop":
		// Publish and link version after version, switching every FEC.
		for i := 1; i <= n; i++ {
			v := fmt.Sprintf("1.0.%d", i)
			if _, err := s.Publish(context.Background(), PublishRequest{Kind: index.KindSoftware, Name: name, Version: version.MustParse(v), Arch: "x86_64",
				Body: bytes.NewReader(helperContent(name, i))}); err != nil {
				t.Fatal(err)
			}
			for _, fec := range strings.Split(os.Getenv("FECDEPLOY_FECS"), ",") {
				require.NoError(t, s.Link(context.Background(), fec, index.KindSoftware, name, v))
			}
			fmt.Printf("done %d\n", i)
		}
	}
}

func helperCmd(t *testing.T, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPublisher$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "CI=", "GOFLAGS="), env...)
	return cmd
}

// checkConsistent asserts what must hold whatever moment a writer died at:
// every archive under a final name is complete (its bytes are the ones the
// publisher meant), every INDEX parses and names only files that exist with
// its size and sha256.
func checkConsistent(t *testing.T, s *Storage, expected func(rel string) ([]byte, bool)) {
	t.Helper()
	err := filepath.WalkDir(s.abs(SoftwareDir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || isTemp(d.Name()) || strings.HasSuffix(p, ChecksumSuffix) {
			return err
		}
		rel, _ := filepath.Rel(s.Base(), p)
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		want, ok := expected(filepath.ToSlash(rel))
		if !ok {
			t.Errorf("unexpected file under a final name: %s", rel)
		} else {
			assert.True(t, bytes.Equal(got, want), "%s is partial or wrong: %d bytes, want %d", rel, len(got), len(want))
		}
		return nil
	})
	require.NoError(t, err)
	fecs, err := s.FECs(ctx)
	require.NoError(t, err)
	for _, fec := range fecs {
		b, err := os.ReadFile(filepath.Join(s.Base(), FECsDir, fec, index.FileName))
		require.NoError(t, err, fec)
		ix, err := index.ParseBytes(b)
		require.NoError(t, err, fec)
		for _, e := range ix.Entries {
			data, err := os.ReadFile(s.abs(e.Path))
			if err != nil {
				t.Errorf("INDEX of %s names %s: %v", fec, e.Path, err)
				continue
			}
			assert.False(t, int64(len(data)) != e.Size || sum(data) != e.SHA256, "INDEX of %s: %s does not match (size %d/%d)", fec, e.Path, len(data), e.Size)
		}
	}
}

// TestKilledPublisher: a publisher killed with SIGKILL in the middle of a
// large upload leaves only a temp file, which Verify reports and Clean
// removes; the storage is otherwise intact.
func TestKilledPublisher(t *testing.T) {
	noTempGrace(t) // the writer is killed and checked right away
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	good := blob(index.FormatZstd, 5000, 1)
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", good)
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	before := snapshot(t, s.Base())

	cmd := helperCmd(t, helperEnv+"=slow", "FECDEPLOY_BASE="+s.Base(), "FECDEPLOY_NAME=Foo")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	// Wait until a good part of the stream is in the temp file.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var size int64
		for _, p := range tempFiles(t, s.Base()) {
			if st, err := os.Stat(p); err == nil {
				size = st.Size()
			}
		}
		if size > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the helper wrote no temp file: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	checkConsistent(t, s, func(rel string) ([]byte, bool) {
		return good, rel == "software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst"
	})
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Count(ProblemTempFile), r.Problems)
	assert.Equal(t, 1, r.Count(ProblemEmptyVersion), r.Problems)
	require.Len(t, r.Problems, 2, fmt.Sprint("only the temp file and its archive-less version folder are problems: ", r.Problems))

	removed, err := s.Clean(ctx)
	require.NoError(t, err)
	require.Len(t, removed, 2, "the temp file and the version folder the killed writer created: %v", removed)
	r, err = s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems)
	assert.Equal(t, before, snapshot(t, s.Base()))
}

// TestKilledPublisherLoop kills a publisher that publishes and links in a
// loop at random moments: whenever it dies, archives are complete and every
// INDEX names existing, matching archives; Clean and Reindex repair the rest.
func TestKilledPublisherLoop(t *testing.T) {
	noTempGrace(t) // the writer is killed and checked right away
	if testing.Short() {
		t.Skip("short")
	}
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "fec02", "x86_64")
	expected := func(rel string) ([]byte, bool) {
		var i int
		if _, err := fmt.Sscanf(rel, "software/Foo/1.0.%d/", &i); err != nil {
			return nil, false
		}
		want := fmt.Sprintf("software/Foo/1.0.%d/Foo-1.0.%d-x86_64.tar.zst", i, i)
		return helperContent("Foo", i), rel == want
	}
	for round := 0; round < 8; round++ {
		cmd := helperCmd(t, helperEnv+"=loop", "FECDEPLOY_BASE="+s.Base(), "FECDEPLOY_NAME=Foo", "FECDEPLOY_COUNT=1000",
			"FECDEPLOY_FECS=fec01,fec02")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(150+round*37) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		require.False(t, strings.Contains(out.String(), "FAIL"), "helper failed: %s", out.String())
		checkConsistent(t, s, expected)
		r, err := s.Verify(ctx)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		t.Logf("round %d: killed after %q; problems: %v", round, lines[len(lines)-1], r.Problems)
		for _, p := range r.Problems {
			switch p.Kind {
			case ProblemTempFile, ProblemStaleIndex, ProblemMissingChecksum, ProblemEmptyVersion:
				// A kill between the steps of an operation; the INDEX still
				// names what it named before, which still exists.
			default:
				t.Errorf("round %d: unexpected problem %s", round, p)
			}
		}
		_, err = s.Clean(ctx)
		require.NoError(t, err)
		require.NoError(t, s.Reindex(ctx))
		r, err = s.Verify(ctx)
		require.NoError(t, err)
		assert.Equal(t, []Problem{}, r.Problems, fmt.Sprintf("round %d after Clean and Reindex", round))
	}
}

// TestConcurrentPublishers: goroutines and processes publishing and linking
// at once lose no link and leave every INDEX complete.
func TestConcurrentPublishers(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "fec02", "x86_64")

	// Two processes, each its own software, both linking to both FECs.
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for _, name := range []string{"ProcA", "ProcB"} {
		cmd := helperCmd(t, helperEnv+"=loop", "FECDEPLOY_BASE="+s.Base(), "FECDEPLOY_NAME="+name, "FECDEPLOY_COUNT=15",
			"FECDEPLOY_FECS=fec01,fec02")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	// Meanwhile, goroutines in this process.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("Go%d", g)
			for i := 1; i <= 5; i++ {
				v := fmt.Sprintf("2.0.%d", i)
				if _, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: name, Version: version.MustParse(v), Arch: "x86_64",
					Body: bytes.NewReader(helperContent(name, i))}); err != nil {
					errs <- err
					return
				}
				for _, fec := range []string{"fec01", "fec02"} {
					if err := s.Link(ctx, fec, index.KindSoftware, name, v); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
	}
	for _, fec := range []string{"fec01", "fec02"} {
		ix := readIndex(t, s, fec)
		assert.False(t, len(ix.Entries) != 8, "%s: %d entries, want 8", fec, len(ix.Entries))
		for _, e := range ix.Entries {
			want := "1.0.15"
			if strings.HasPrefix(e.Name, "Go") {
				want = "2.0.5"
			}
			assert.Equal(t, want, e.Version, fec+" "+e.Name)
		}
	}
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems)
}
