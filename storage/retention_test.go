package storage

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var longAgo = time.Now().Add(-10 * 24 * time.Hour)

// publishOld publishes x86_64 versions of software and backdates their
// directories, so only links and the link log keep them inside the grace
// period.
func publishOld(t testing.TB, s *Storage, software string, versions ...string) {
	t.Helper()
	for i, v := range versions {
		mustPublish(t, s, index.KindSoftware, software, v, "x86_64", blob(index.FormatZstd, 300+i, int64(len(v)*100+i)))
		backdate(t, s, software, v)
	}
}

// lbackdate sets the mtime of a symlink itself (utimensat with
// AT_SYMLINK_NOFOLLOW; the standard library has no Lchtimes): a link made
// long ago.
func lbackdate(t testing.TB, p string, tm time.Time) {
	t.Helper()
	const atFDCWD, atSymlinkNoFollow = -100, 0x100
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(tm.UnixNano()), syscall.NsecToTimespec(tm.UnixNano())}
	pp, err := syscall.BytePtrFromString(p)
	require.NoError(t, err)
	fdcwd := atFDCWD
	if _, _, e := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fdcwd), uintptr(unsafe.Pointer(pp)),
		uintptr(unsafe.Pointer(&ts[0])), atSymlinkNoFollow, 0, 0); e != 0 {
		t.Fatalf("utimensat %s: %v", p, e)
	}
	st, err := os.Lstat(p)
	require.NoError(t, err)
	assert.True(t, st.ModTime().Before(time.Now().Add(-time.Hour)), "symlink mtime not set")
}

func backdate(t testing.TB, s *Storage, software, v string) {
	t.Helper()
	require.NoError(t, os.Chtimes(filepath.Join(s.Base(), SoftwareDir, software, v), longAgo, longAgo))
}

// decisions renders a plan as "version:action:reason" (newest first) per software.
func decisions(p version.Plan) string {
	var out []string
	for _, sp := range p.Software {
		for _, d := range sp.Versions {
			out = append(out, d.Version+":"+d.Action.String()+":"+d.Reason.String())
		}
	}
	return strings.Join(out, " ")
}

func versionsOnDisk(t testing.TB, s *Storage, software string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Base(), SoftwareDir, software))
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestPlanPruneAndPrune(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "fec02", "x86_64")
	publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "dev")
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec02", index.KindSoftware, "Foo_DU", "1.4.0"))
	later := time.Now().Add(48 * time.Hour) // past the grace period of the links just made

	p, err := s.PlanPrune(ctx, "", version.Policy{}, later)
	require.NoError(t, err)
	assert.Equal(t, "dev:keep:dev 1.4.0:keep:linked 1.3.0:keep:newest 1.2.0:keep:newest "+
		"1.1.0:remove:superseded 1.0.0:keep:linked", decisions(p))
	assert.False(t, len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Text, "because FECs still link older ones: 1.0.0"), "warnings %+v", p.Warnings)
	assert.Equal(t, []string{"fec02"}, p.Software[0].Versions[1].LinkedBy)

	rep, err := s.Prune(ctx, p)
	require.NoError(t, err)
	assert.False(t, len(rep.Removed) != 1 || rep.Removed[0].Version != "1.1.0" || rep.FreedBytes != int64(len(blob(index.FormatZstd, 301, int64(len("1.1.0")*100+1))))+int64(len(sum(nil))+2+len("Foo_DU-1.1.0-x86_64.tar.zst")+1), "report %+v", rep)
	assert.Equal(t, "1.0.0 1.2.0 1.3.0 1.4.0 dev", versionsOnDisk(t, s, "Foo_DU"))
	assert.Equal(t, []string(nil), tempFiles(t, s.Base()), "no temporary files left")

	// Idempotent on the real tree.
	again, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{}, later)
	require.NoError(t, err)
	require.Len(t, again.Removals(), 0, "second plan removes")
	before := snapshot(t, s.Base())
	rep, err = s.Prune(ctx, again)
	require.NoError(t, err)
	require.Len(t, rep.Removed, 0)
	assert.Equal(t, snapshot(t, s.Base()), before)
}

func TestPlanPruneBadInput(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	publishOld(t, s, "Foo_DU", "1.0.0")
	_, err := s.PlanPrune(ctx, "Bar", version.Policy{}, time.Now())
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), `"Bar"`)
	_, err = s.PlanPrune(ctx, "../Foo_DU", version.Policy{}, time.Now())
	require.ErrorIs(t, err, index.ErrBadName)

	// A plan for something that vanished is skipped, not an error.
	before := snapshot(t, s.Base())
	gone := version.SoftwareInput{Name: "Gone", Versions: []version.VersionInput{
		{Name: "1.0.0"}, {Name: "1.1.0"}, {Name: "1.2.0"}, {Name: "1.3.0"}}}
	fake := version.NewPlan(version.PlanInput{Now: time.Now(), Software: []version.SoftwareInput{gone}})
	rep, err := s.Prune(ctx, fake)
	require.NoError(t, err)
	require.Len(t, rep.Removed, 0)
	assert.Equal(t, []Skipped{{"Gone", "1.0.0", "no longer present"}}, rep.Skipped)
	assert.Equal(t, snapshot(t, s.Base()), before)
}

// Prune plans again under the lock: what changed since planning wins.
func TestPruneRechecksUnderLock(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
	later := time.Now().Add(48 * time.Hour)
	p, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{}, later)
	require.NoError(t, err)
	require.Len(t, p.Removals(), 2)

	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0")) // after planning
	rep, err := s.Prune(ctx, p)
	require.NoError(t, err)
	require.Len(t, rep.Removed, 1)
	assert.Equal(t, "1.1.0", rep.Removed[0].Version)
	require.Len(t, rep.Skipped, 1)
	assert.Equal(t, "1.0.0", rep.Skipped[0].Version)
	assert.Contains(t, rep.Skipped[0].Why, "kept now: linked by fec01")
	assert.Equal(t, "1.0.0 1.2.0 1.3.0 1.4.0", versionsOnDisk(t, s, "Foo_DU"))
	st, code := resolveOK(s, "fec01")
	assert.True(t, st, fmt.Sprint("fec01's link still resolves: ", code))
}

func resolveOK(s *Storage, fec string) (bool, string) {
	b, err := os.ReadFile(filepath.Join(s.Base(), FECsDir, fec, index.FileName))
	if err != nil {
		return false, err.Error()
	}
	ix, err := index.ParseBytes(b)
	if err != nil {
		return false, err.Error()
	}
	for _, e := range ix.Entries {
		if _, err := os.Stat(filepath.Join(s.Base(), filepath.FromSlash(e.Path))); err != nil {
			return false, err.Error()
		}
	}
	return true, ""
}

// Grace bookkeeping: Switch logs the unlink; a switch by other means
// (Link, by hand) is seen through the link's mtime and counts for every
// unlinked version of the software.
func TestPruneGrace(t *testing.T) {
	t.Parallel()
	t.Run("logged switch: precise", func(t *testing.T) {
		s := newTestStorage(t)
		mustAddFEC(t, s, "fec01", "x86_64")
		publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
		require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
		res, err := s.Switch(ctx, "fec01", "Foo_DU", "1.4.0")
		require.NoError(t, err)
		assert.Equal(t, SwitchResult{FEC: "fec01", Software: "Foo_DU", From: "1.0.0", To: "1.4.0",
			Target: "software/Foo_DU/1.4.0/Foo_DU-1.4.0-x86_64.tar.zst", Changed: true}, res)

		p, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{}, time.Now().Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, "1.4.0:keep:linked 1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:remove:superseded "+
			"1.0.0:keep:recently-unlinked", decisions(p))
		assert.Contains(t, p.Software[0].Versions[4].Text, "unlinked 1h ago, inside the 24h grace period")

		p, err = s.PlanPrune(ctx, "Foo_DU", version.Policy{}, time.Now().Add(25*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, "1.4.0:keep:linked 1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:remove:superseded "+
			"1.0.0:remove:superseded", decisions(p))
		p, err = s.PlanPrune(ctx, "Foo_DU", version.Policy{Grace: 3 * time.Hour}, time.Now().Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, version.ReasonRecentlyUnlinked, p.Software[0].Versions[4].Reason)
	})
	t.Run("Link and Unlink are logged: precise", func(t *testing.T) {
		s := newTestStorage(t)
		mustAddFEC(t, s, "fec01", "x86_64")
		mustAddFEC(t, s, "fec02", "x86_64")
		publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
		require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
		require.NoError(t, s.Link(ctx, "fec02", index.KindSoftware, "Foo_DU", "1.1.0"))
		require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.4.0")) // as fec-pack -link does
		require.NoError(t, s.Unlink(ctx, "fec02", index.KindSoftware, "Foo_DU"))
		p, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{}, time.Now().Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, "1.4.0:keep:linked 1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:recently-unlinked "+
			"1.0.0:keep:recently-unlinked", decisions(p))
		log, err := s.readLinkLog()
		require.NoError(t, err)
		require.Len(t, log, 4)
		p, err = s.PlanPrune(ctx, "Foo_DU", version.Policy{}, time.Now().Add(25*time.Hour))
		require.NoError(t, err)
		require.Len(t, p.Removals(), 2)
	})
	t.Run("hand-edited link: coarse", func(t *testing.T) {
		s := newTestStorage(t)
		mustAddFEC(t, s, "fec01", "x86_64")
		publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
		require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
		// An operator switches the link by hand (ln -sfn), which the log
		// cannot see: every unlinked version gets the grace period.
		link := filepath.Join(s.Base(), "fecs/fec01/software/Foo_DU")
		require.NoError(t, os.Remove(link))
		require.NoError(t, os.Symlink("../../../software/Foo_DU/1.4.0/Foo_DU-1.4.0-x86_64.tar.zst", link))
		require.NoError(t, s.Reindex(ctx, "fec01"))
		p, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{}, time.Now().Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, "1.4.0:keep:linked 1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:recently-unlinked "+
			"1.0.0:keep:recently-unlinked", decisions(p))
		p, err = s.PlanPrune(ctx, "Foo_DU", version.Policy{}, time.Now().Add(25*time.Hour))
		require.NoError(t, err)
		require.Len(t, p.Removals(), 2)
	})
	t.Run("just published", func(t *testing.T) {
		s := newTestStorage(t)
		publishOld(t, s, "Foo_DU", "1.1.0", "1.2.0", "1.3.0")
		mustPublish(t, s, index.KindSoftware, "Foo_DU", "1.0.5", "x86_64", blob(index.FormatZstd, 10, 9)) // a backport
		p, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{}, time.Now())
		require.NoError(t, err)
		assert.Equal(t, version.ReasonRecentlyPublished, p.Software[0].Versions[3].Reason)
	})
}

// A FEC that fetched its INDEX before a switch still downloads every archive
// it names after the switch and a prune: the grace period keeps them. The
// same prune without a grace period breaks the download, which shows the
// test can fail.
func TestPruneWhileFECDownloadsOldIndex(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
	ng := testenv.StartNginx(t, s.Base(), testenv.NginxOptions{})

	code, body := ng.Get(t, "fecs/fec01/INDEX")
	assert.Equal(t, http.StatusOK, code)
	old, err := index.ParseBytes(body)
	require.NoError(t, err)
	require.Len(t, old.Entries, 1)

	_, err = s.Switch(ctx, "fec01", "Foo_DU", "1.4.0")
	require.NoError(t, err)
	p, err := s.PlanPrune(ctx, "", version.Policy{}, time.Now())
	require.NoError(t, err)
	rep, err := s.Prune(ctx, p)
	require.NoError(t, err)
	require.Len(t, rep.Removed, 1, "1.1.0 goes")
	assert.Equal(t, "1.1.0", rep.Removed[0].Version)

	for _, e := range old.Entries {
		code, body := ng.Get(t, e.Path)
		assert.Equal(t, http.StatusOK, code, e.Path)
		assert.Equal(t, e.SHA256, sum(body), e.Path)
	}
	code, body = ng.Get(t, "fecs/fec01/INDEX")
	assert.Equal(t, http.StatusOK, code)
	cur, err := index.ParseBytes(body)
	require.NoError(t, err)
	assert.Equal(t, "1.4.0", cur.Entries[0].Version)

	// Without the grace period the old archive is gone.
	p, err = s.PlanPrune(ctx, "", version.Policy{Grace: version.NoGrace}, time.Now())
	require.NoError(t, err)
	_, err = s.Prune(ctx, p)
	require.NoError(t, err)
	code, _ = ng.Get(t, old.Entries[0].Path)
	assert.Equal(t, http.StatusNotFound, code)
	if ok, why := resolveOK(s, "fec01"); !ok {
		t.Errorf("current INDEX broken: %s", why)
	}
}

// Prune racing releases (publish, then switch FECs to the new version):
// every publish and switch succeeds, no FEC's INDEX ever names a missing
// file, just-published and just-unlinked versions stay, and the old
// unlinked ones go while the releases run.
func TestPruneRacingPublish(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	fecs := []string{"fec01", "fec02", "fec03"}
	for _, f := range fecs {
		mustAddFEC(t, s, f, "x86_64")
	}
	publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0")
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.6.0"))
	require.NoError(t, s.Link(ctx, "fec02", index.KindSoftware, "Foo_DU", "1.6.0"))
	require.NoError(t, s.Link(ctx, "fec03", index.KindSoftware, "Foo_DU", "1.1.0"))
	for _, f := range fecs {
		lbackdate(t, filepath.Join(s.Base(), "fecs", f, "software", "Foo_DU"), longAgo)
	}
	pol := version.Policy{Keep: 1}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 100)
	removed := map[string]bool{}
	wg.Add(1)
	go func() { // the pruner
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			p, err := s.PlanPrune(ctx, "", pol, time.Now())
			if err != nil {
				errc <- fmt.Errorf("plan: %w", err)
				return
			}
			rep, err := s.Prune(ctx, p)
			if err != nil {
				errc <- fmt.Errorf("prune: %w", err)
				return
			}
			for _, d := range rep.Removed {
				removed[d.Version] = true
			}
			for _, f := range fecs {
				if ok, why := resolveOK(s, f); !ok {
					errc <- fmt.Errorf("after a prune, %s's INDEX names a missing file: %s", f, why)
				}
			}
		}
	}()
	for i := 0; i < 12; i++ { // the releases
		v := fmt.Sprintf("2.%d.0", i)
		fec := fecs[i%2]
		if _, err := s.Publish(ctx, PublishRequest{Kind: index.KindSoftware, Name: "Foo_DU", Version: version.MustParse(v), Arch: "x86_64",
			Body: strings.NewReader(string(blob(index.FormatZstd, 5000, int64(i))))}); err != nil {
			t.Errorf("publish %s: %v", v, err)
			continue
		}
		if _, err := s.Switch(ctx, fec, "Foo_DU", v); err != nil {
			t.Errorf("switch %s: %v", v, err)
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	p, err := s.PlanPrune(ctx, "", pol, time.Now())
	require.NoError(t, err)
	rep, err := s.Prune(ctx, p)
	require.NoError(t, err)
	for _, d := range rep.Removed {
		removed[d.Version] = true
	}
	for v := range removed {
		assert.False(t, strings.HasPrefix(v, "2.") || v == "1.1.0" || v == "1.6.0", "removed %s (just published, linked, or just unlinked)", v)
	}
	assert.Equal(t, "1.1.0 1.6.0 2.0.0 2.1.0 2.10.0 2.11.0 2.2.0 2.3.0 2.4.0 2.5.0 2.6.0 2.7.0 2.8.0 2.9.0", versionsOnDisk(t, s, "Foo_DU"))
	assert.Equal(t, []string(nil), tempFiles(t, s.Base()))
}

// Links are resolved by path: relative, absolute, chains through other
// symlinks, trailing slashes, ".." after a version, dangling links.
func TestPruneLinkCornerCases(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	for _, f := range []string{"fec01", "fec02", "fec03", "fec04", "fec05"} {
		mustAddFEC(t, s, f, "x86_64")
	}
	publishOld(t, s, "Foo_DU", "0.8.0", "0.9.0", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "1.7.0")
	base := s.Base()
	link := func(rel, target string) {
		t.Helper()
		p := filepath.Join(base, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.Symlink(target, p))
	}
	// fec01: a chain: its link points at software/Foo_DU/current, itself a
	// symlink to 0.8.0 (a hand-made "current" pointer).
	link("software/Foo_DU/current", "0.8.0")
	link("fecs/fec01/software/Foo_DU", "../../../software/Foo_DU/current/Foo_DU-0.8.0-x86_64.tar.zst")
	// fec02: a trailing slash on a version directory.
	link("fecs/fec02/software/Foo_DU", "../../../software/Foo_DU/0.9.0/")
	// fec03: absolute, inside the storage.
	link("fecs/fec03/software/Foo_DU", filepath.Join(base, "software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.zst"))
	// fec04: the string names 1.1.0, the path leads to 1.2.0.
	link("fecs/fec04/software/Foo_DU", "../../../software/Foo_DU/1.1.0/../1.2.0/Foo_DU-1.2.0-x86_64.tar.zst")
	// fec05: dangling, into an existing version (a typo in the file name),
	// and one into a version that does not exist.
	link("fecs/fec05/software/Foo_DU", "../../../software/Foo_DU/1.3.0/Foo_DU-1.3.0-typo.tar.zst")
	link("fecs/fec05/configuration/Old", "../../../software/Foo_DU/0.1.0/x.tar.zst")
	// A link through another FEC's link (chain across FECs), in an init folder.
	link("fecs/fec05/init/50-foo", "../../fec02/software/Foo_DU")

	later := time.Now().Add(48 * time.Hour)
	p, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{}, later)
	require.NoError(t, err)
	assert.Equal(t, "1.7.0:keep:newest 1.6.0:keep:newest 1.5.0:keep:newest 1.4.0:remove:superseded "+
		"1.3.0:keep:held 1.2.0:keep:linked 1.1.0:keep:held 1.0.0:keep:linked 0.9.0:keep:linked "+
		"0.8.0:keep:linked current:keep:held", decisions(p))
	by := map[string]version.Decision{}
	for _, d := range p.Software[0].Versions {
		by[d.Version] = d
	}
	assert.Equal(t, []string{"fec01"}, by["0.8.0"].LinkedBy)
	assert.Equal(t, []string{"fec02", "fec05"}, by["0.9.0"].LinkedBy)
	assert.Equal(t, []string{"fec03"}, by["1.0.0"].LinkedBy)
	assert.Equal(t, []string{"fec04"}, by["1.2.0"].LinkedBy)
	assert.Contains(t, by["1.3.0"].Text, "the broken link fecs/fec05/software/Foo_DU names it")
	assert.Contains(t, by["current"].Text, "is a symlink, not a version directory")
	assert.Contains(t, by["current"].Text, "the link fecs/fec01/software/Foo_DU -> ../../../software/Foo_DU/current/")
	assert.Contains(t, by["1.1.0"].Text, "the link fecs/fec04/software/Foo_DU -> ../../../software/Foo_DU/1.1.0/../1.2.0/")
	var warns []string
	for _, w := range p.Warnings {
		warns = append(warns, w.Text)
	}
	assert.Contains(t, strings.Join(warns, "\n"), "link fecs/fec05/software/Foo_DU -> ../../../software/Foo_DU/1.3.0/Foo_DU-1.3.0-typo.tar.zst is broken")

	rep, err := s.Prune(ctx, p)
	require.NoError(t, err)
	require.Len(t, rep.Removed, 1)
	assert.Equal(t, "0.8.0 0.9.0 1.0.0 1.1.0 1.2.0 1.3.0 1.5.0 1.6.0 1.7.0 current", versionsOnDisk(t, s, "Foo_DU"))
	for _, f := range []string{"fec01", "fec02", "fec03", "fec04"} {
		if _, err := os.Stat(filepath.Join(base, "fecs", f, "software", "Foo_DU")); err != nil {
			t.Errorf("%s's link no longer resolves: %v", f, err)
		}
	}

	// A link to the software folder itself uses every version.
	link("fecs/fec05/configuration/All", "../../../software/Foo_DU")
	p, err = s.PlanPrune(ctx, "Foo_DU", version.Policy{}, later)
	require.NoError(t, err)
	require.Len(t, p.Removals(), 0)
	for _, d := range p.Software[0].Versions {
		assert.False(t, d.Version != "current" && d.Version != "1.3.0" && !hasString(d.LinkedBy, "fec05"), "%s not linked by fec05: %+v", d.Version, d)
	}
}

// An INDEX that still names a version (links changed by hand, no reindex)
// holds it: FECs fetch what the INDEX says.
func TestPruneHoldsWhatAnIndexNames(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	publishOld(t, s, "Foo_DU", "1.0.0", "1.1.0", "1.2.0", "1.3.0")
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo_DU", "1.0.0"))
	require.NoError(t, os.Remove(filepath.Join(s.Base(), "fecs/fec01/software/Foo_DU"))) // by hand
	p, err := s.PlanPrune(ctx, "Foo_DU", version.Policy{Grace: version.NoGrace}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:newest 1.0.0:keep:held", decisions(p))
	assert.Contains(t, p.Software[0].Versions[3].Text, "the INDEX of fec01 still names software/Foo_DU/1.0.0/")
	require.NoError(t, s.Reindex(ctx))
	p, err = s.PlanPrune(ctx, "Foo_DU", version.Policy{Grace: version.NoGrace}, time.Now())
	require.NoError(t, err)
	require.Len(t, p.Removals(), 1)
}

// BenchmarkPlanPrune measures PlanPrune on a tree built by hand (no INDEX
// files): fecs FECs each linking every one of sw software, 10 versions each.
// The cost is dominated by resolving every link by path (Links).
func BenchmarkPlanPrune(b *testing.B) {
	const fecs, sw, versions = 200, 50, 10
	s := newTestStorage(b)
	base := s.Base()
	for i := 0; i < sw; i++ {
		name := fmt.Sprintf("Soft%02d_DU", i)
		for v := 0; v < versions; v++ {
			ver := fmt.Sprintf("1.%d.0", v)
			dir := filepath.Join(base, SoftwareDir, name, ver)
			require.NoError(b, os.MkdirAll(dir, 0o755))
			require.NoError(b, os.WriteFile(filepath.Join(dir, name+"-"+ver+"-x86_64.tar.zst"), index.FormatZstd.Magic(), 0o644))
			require.NoError(b, os.Chtimes(dir, longAgo, longAgo))
		}
	}
	for f := 0; f < fecs; f++ {
		dir := filepath.Join(base, FECsDir, fmt.Sprintf("fec%03d", f), SoftwareDir)
		require.NoError(b, os.MkdirAll(dir, 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(filepath.Dir(dir), FECConfName), []byte("arch=x86_64\n"), 0o644))
		for i := 0; i < sw; i++ {
			name := fmt.Sprintf("Soft%02d_DU", i)
			ver := fmt.Sprintf("1.%d.0", versions-1-(f%4))
			p := filepath.Join(dir, name)
			require.NoError(b, os.Symlink("../../../software/"+name+"/"+ver+"/"+name+"-"+ver+"-x86_64.tar.zst", p))
			lbackdate(b, p, longAgo)
		}
	}
	b.ResetTimer()
	var removed int
	for i := 0; i < b.N; i++ {
		p, err := s.PlanPrune(ctx, "", version.Policy{}, time.Now())
		require.NoError(b, err)
		removed = len(p.Removals())
	}
	b.StopTimer()
	b.ReportMetric(float64(fecs*sw), "links")
	require.False(b, removed != sw*(versions-4), "removes %d, want %d", removed, sw*(versions-4))
}

// The report's plan is the whole plan: software without removals and their
// warnings stay, software with removals is replaced by the re-check.
func TestPruneReportKeepsWholePlan(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	publishOld(t, s, "A", "1.0.0", "1.1.0", "1.2.0", "1.3.0")
	publishOld(t, s, "B", "1.0.0")
	require.NoError(t, os.Mkdir(filepath.Join(s.Base(), SoftwareDir, "B", "latest"), 0o755))
	p, err := s.PlanPrune(ctx, "", version.Policy{}, time.Now())
	require.NoError(t, err)
	require.Len(t, p.Removals(), 1)
	rep, err := s.Prune(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, decisions(p), decisions(rep.Plan))
	require.Len(t, rep.Plan.Warnings, 1)
	assert.Equal(t, "B", rep.Plan.Warnings[0].Software)
}

// A temporary file in a version directory (a publish streaming into it, or
// left by a killed writer) holds the version, even without a grace period.
func TestPruneHoldsVersionWithTempFile(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	publishOld(t, s, "A", "1.0.0", "1.1.0", "1.2.0", "1.3.0")
	dir := filepath.Join(s.Base(), SoftwareDir, "A", "1.0.0")
	require.NoError(t, os.WriteFile(filepath.Join(dir, tmpPrefix+"A-1.0.0-ppc.tar.gz-123"), []byte("partial"), 0o644))
	backdate(t, s, "A", "1.0.0")
	p, err := s.PlanPrune(ctx, "A", version.Policy{Grace: version.NoGrace}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "1.3.0:keep:newest 1.2.0:keep:newest 1.1.0:keep:newest 1.0.0:keep:held", decisions(p))
	assert.Contains(t, p.Software[0].Versions[3].Text, "a publish in progress")
}

// A publish killed before its archive was renamed into place leaves a
// version folder without an archive (empty once fecctl verify -clean has
// removed the temporary file). It is no version: retention does not count
// it among the newest, so the real rollback target is kept.
func TestPruneIgnoresArchivelessVersion(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	publishOld(t, s, "A", "1.0.0", "1.1.0", "1.2.0", "1.3.0")
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "A", "1.3.0"))
	for _, v := range []string{"1.4.0", "1.5.0"} { // killed publishes, cleaned
		require.NoError(t, os.Mkdir(filepath.Join(s.Base(), SoftwareDir, "A", v), 0o755))
		backdate(t, s, "A", v)
	}
	// One still holding the killed publisher's temporary file.
	dir := filepath.Join(s.Base(), SoftwareDir, "A", "1.6.0")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, tmpPrefix+"A-1.6.0-x86_64.tar.zst-1"), []byte("part"), 0o644))
	backdate(t, s, "A", "1.6.0")
	later := time.Now().Add(48 * time.Hour)

	p, err := s.PlanPrune(ctx, "A", version.Policy{}, later)
	require.NoError(t, err)
	assert.Equal(t, "1.3.0:keep:linked 1.2.0:keep:newest 1.1.0:keep:newest 1.0.0:remove:superseded", decisions(p))
	var warned []string
	for _, w := range p.Warnings {
		warned = append(warned, w.Text)
	}
	assert.Contains(t, strings.Join(warned, "\n"), "software/A/1.4.0 holds no archive")

	rep, err := s.Prune(ctx, p)
	require.NoError(t, err)
	require.Len(t, rep.Removed, 1)
	assert.Equal(t, "1.0.0", rep.Removed[0].Version)
	assert.Equal(t, "1.1.0 1.2.0 1.3.0 1.4.0 1.5.0 1.6.0", versionsOnDisk(t, s, "A"),
		"the rollback targets stay; prune leaves the archive-less folders to fecctl verify -clean")
	vs, err := s.Versions(ctx, index.KindSoftware, "A")
	require.NoError(t, err)
	assert.Equal(t, []string{"1.1.0", "1.2.0", "1.3.0"}, vs, "an archive-less folder is not listed as a version")
}

// A FEC link that is absolute and reaches the storage through another path
// (a symlinked alias of the base, or of a folder in it, as an operator's
// ln -s /srv/alias/... makes) uses its version like any other link: prune
// keeps it, Uses and Verify see it, and nginx still serves the archive
// after the prune.
func TestPruneKeepsVersionLinkedThroughAlias(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	for _, f := range []string{"fec01", "fec02", "fec03"} {
		mustAddFEC(t, s, f, "x86_64")
	}
	publishOld(t, s, "A", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0")
	require.NoError(t, s.Link(ctx, "fec02", index.KindSoftware, "A", "1.5.0"))
	aliases := t.TempDir()
	require.NoError(t, os.Symlink(s.Base(), filepath.Join(aliases, "base")))
	require.NoError(t, os.Symlink(filepath.Join(s.Base(), SoftwareDir), filepath.Join(aliases, "sw")))
	handLink := func(fec, target string) {
		link := filepath.Join(s.Base(), "fecs", fec, "software/A")
		require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
		require.NoError(t, os.Symlink(target, link))
		lbackdate(t, link, longAgo)
	}
	handLink("fec01", filepath.Join(aliases, "base/software/A/1.0.0/A-1.0.0-x86_64.tar.zst"))
	handLink("fec03", filepath.Join(aliases, "sw/A/1.1.0/A-1.1.0-x86_64.tar.zst"))
	require.NoError(t, s.Reindex(ctx))

	for v, fec := range map[string]string{"1.0.0": "fec01", "1.1.0": "fec03"} {
		uses, err := s.Uses(ctx, index.KindSoftware, "A", v)
		require.NoError(t, err)
		require.Len(t, uses, 1, "the alias link is a use of %s", v)
		assert.Equal(t, fec, uses[0].FEC)
		assert.Equal(t, "software/A/"+v+"/A-"+v+"-x86_64.tar.zst", uses[0].Target)
	}
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems)

	p, err := s.PlanPrune(ctx, "A", version.Policy{}, time.Now().Add(48*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, "1.5.0:keep:linked 1.4.0:keep:newest 1.3.0:keep:newest 1.2.0:remove:superseded "+
		"1.1.0:keep:linked 1.0.0:keep:linked", decisions(p))
	_, err = s.Prune(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, "1.0.0 1.1.0 1.3.0 1.4.0 1.5.0", versionsOnDisk(t, s, "A"))

	n := testenv.StartNginx(t, s.Base(), testenv.NginxOptions{})
	for _, fec := range []string{"fec01", "fec03"} {
		code, data := n.Get(t, "fecs/"+fec+"/INDEX")
		require.Equal(t, 200, code)
		ix, err := index.ParseBytes(data)
		require.NoError(t, err)
		require.Len(t, ix.Entries, 1)
		code, body := n.Get(t, ix.Entries[0].Path)
		assert.Equal(t, 200, code, "GET %s after the prune", ix.Entries[0].Path)
		assert.Equal(t, ix.Entries[0].SHA256, sum(body))
	}
}
