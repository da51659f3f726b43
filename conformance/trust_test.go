package conformance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testenv/faultproxy"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Trust against a hostile server, with real parts (docs/security.md,
// "Client status"): nginx serves the storage, the fault-injecting proxy
// (internal/testenv/faultproxy) in front of it plays the web server, cache
// or network path an attacker controls (it replays an older INDEX, freezes
// one), and the FECs are real processes: the fec-boot binary and
// fec-boot.sh under busybox. Every refusal leaves the installed software
// and the state files byte for byte as they were, and the client says why
// in one line.

// fecProcess boots a FEC as a real process: the fec-boot binary (built with
// -tags fectestclock, so that a test can set its clock) or fec-boot.sh
// under a busybox-only PATH (its clock is set through date).
type fecProcess struct {
	kind string // "fec-boot" or "fec-boot.sh"
	bin  string
	sh   *clienttest.Shell
}

// fecKinds are the two clients as processes.
var fecKinds = []string{"fec-boot", "fec-boot.sh"}

func newFECProcess(t *testing.T, kind string) *fecProcess {
	t.Helper()
	if kind == "fec-boot.sh" {
		return &fecProcess{kind: kind, sh: clienttest.NewShell(t, "openssl")}
	}
	bin, err := fecBootClockBin()
	require.NoError(t, err)
	return &fecProcess{kind: kind, bin: bin}
}

// bootOpts are a FEC's trust settings for one boot.
type bootOpts struct {
	keys     string // PEM file of the INDEX keys the FEC pins (public_keys)
	rootKeys string // PEM file of the root keys the FEC pins (root_keys): it follows the keyring
	clock    int64  // the FEC's clock in unix seconds; 0: the real clock
}

// bootResult is one boot: exit code and everything the client printed.
type bootResult struct {
	code int
	out  string
}

func (f *fecProcess) boot(t *testing.T, base, name, root string, o bootOpts) bootResult {
	t.Helper()
	if f.sh != nil {
		if o.clock != 0 {
			f.sh.SetClock(t, o.clock)
			defer f.sh.RealClock(t)
		}
		env := []string{"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_START_JITTER=0",
			"FECDEPLOY_RETRIES=0", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=120", "FECDEPLOY_PUBLIC_KEYS=" + o.keys}
		if o.rootKeys != "" {
			env = append(env, "FECDEPLOY_ROOT_KEYS="+o.rootKeys)
		}
		r := f.sh.Run(t, env, "--url", base, "--fec", name, "--root", root)
		return bootResult{r.Code, r.Stdout + r.Stderr}
	}
	args := []string{"--url", base, "--fec", name, "--root", root, "--conf", "/dev/null", "--cmdline", "none",
		"--start-jitter", "0", "--retries", "0", "--retry-wait-max", "1s", "--deadline", "120s", "--public-keys", o.keys}
	if o.rootKeys != "" {
		args = append(args, "--root-keys", o.rootKeys)
	}
	cmd := exec.Command(f.bin, args...)
	cmd.Env = os.Environ()
	if o.clock != 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("FECDEPLOY_TEST_CLOCK=%d", o.clock))
	}
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("running fec-boot: %v", err)
	}
	return bootResult{cmd.ProcessState.ExitCode(), b.String()}
}

// reason returns the one line in which a client says why it refused: the
// binary's summary line "error: ...", the script's "fec-boot: error: ...".
func reason(t *testing.T, r bootResult) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(r.out, "\n") {
		if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "fec-boot: error: ") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 1, "exactly one line says why:\n%s", r.out)
	return lines[0]
}

// fecState is what a refusal must leave as it was: the installed software
// and the state files, byte for byte (the status file is a report of the
// last run and is checked on its own).
func fecState(t *testing.T, root string) map[string]string {
	t.Helper()
	return testkit.Snapshot(t, root, testkit.SnapshotOptions{Skip: func(rel string) bool {
		return rel == "var/lib/fecdeploy/status.json"
	}})
}

// statusExit returns the exit code recorded in the FEC's status file.
func statusExit(t *testing.T, root string) int {
	t.Helper()
	var st struct {
		ExitCode int `json:"exit_code"`
	}
	require.NoError(t, json.Unmarshal([]byte(testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/status.json"))), &st))
	return st.ExitCode
}

// trustSite is a storage with one FEC whose INDEX the test signs with the
// serial and expiry it wants, served by nginx behind a fault proxy.
type trustSite struct {
	st    *clienttest.Storage
	key   clienttest.Key
	keys  string // PEM file of key's public half
	proxy *faultproxy.Proxy
}

const trustFEC = "fec01"

func newTrustSite(t *testing.T) *trustSite {
	t.Helper()
	s := &trustSite{st: clienttest.NewStorage(t), key: clienttest.NewKey(t)}
	s.keys = clienttest.KeyFile(t, s.key)
	s.st.Index(trustFEC) // the INDEX exists from the first publish on
	ng := testenv.StartNginx(t, s.st.Dir, testenv.NginxOptions{})
	s.proxy = faultproxy.Start(t, ng.URL)
	return s
}

// publish makes software A <ver> (file opt/a/version says ver) the FEC's
// and signs its INDEX with serial and expiry.
func (s *trustSite) publish(t *testing.T, ver string, serial uint64, expires time.Time) {
	t.Helper()
	s.st.Software(t, trustFEC, "A", ver, clienttest.Tree("opt/a", map[string]string{"version": ver}))
	ix := s.st.Index(trustFEC)
	ix.Serial, ix.Expires = serial, expires
	s.st.WriteIndex(t, trustFEC, s.key.Private)
}

// indexPaths are the URL paths of the FEC's INDEX and its signature.
func indexPaths(fec string) []string {
	return []string{"/" + index.IndexURLPath(fec), "/" + index.SigURLPath(fec)}
}

// unix seconds, as expires= has them.
func unixSeconds(t time.Time) time.Time { return t.Truncate(time.Second).UTC() }

// A server that replays yesterday's validly signed INDEX (serial N-1, an
// older version) to a FEC that accepted serial N: refused; once the server
// is honest again, the FEC boots.
func TestTrustReplayThroughProxy(t *testing.T) {
	t.Parallel()
	for _, kind := range fecKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			site, c := newTrustSite(t), newFECProcess(t, kind)
			week := unixSeconds(time.Now().Add(7 * 24 * time.Hour))
			n := index.NextSerial(time.Now())
			site.publish(t, "1.0.0", n-1, week)
			old := site.proxy.Record(t, indexPaths(trustFEC)...)
			site.publish(t, "2.0.0", n, week)
			root := t.TempDir()
			boot := func(o bootOpts) bootResult {
				o.keys = site.keys
				return c.boot(t, site.proxy.URL, trustFEC, root, o)
			}

			r := boot(bootOpts{})
			require.Equal(t, 0, r.code, r.out)
			assert.Equal(t, "2.0.0", testkit.ReadFile(t, filepath.Join(root, "opt/a/version")))
			assert.Equal(t, fmt.Sprintf("%d\n", n), testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/accepted-serial")))

			before := fecState(t, root)
			site.proxy.Add(&faultproxy.Rule{Kind: faultproxy.Replay, Recorded: old})
			r = boot(bootOpts{})
			assert.Equal(t, 4, r.code, r.out)
			line := reason(t, r)
			assert.Contains(t, line, "replay")
			assert.Contains(t, line, fmt.Sprintf("serial %d, this FEC already accepted serial %d", n-1, n))
			assert.Equal(t, before, fecState(t, root), "installed software and state unchanged")
			assert.Equal(t, 4, statusExit(t, root), "the status file says it failed")
			replayed := 0
			for _, q := range site.proxy.Requests() {
				if q.Kind == faultproxy.Replay {
					replayed++
				}
			}
			assert.Equal(t, 2, replayed, "the proxy served the old INDEX and its signature")

			site.proxy.Set()
			r = boot(bootOpts{})
			require.Equal(t, 0, r.code, "the server is honest again: %s", r.out)
			assert.Equal(t, "2.0.0", testkit.ReadFile(t, filepath.Join(root, "opt/a/version")))
		})
	}
}

// A server (or cache) that freezes the INDEX a FEC accepted keeps serving it
// while the writer's resign job renews it: the FEC refuses it once it has
// expired (a day later, by the FEC's clock), and accepts the renewed one
// when the freeze ends.
func TestTrustFrozenIndexExpires(t *testing.T) {
	t.Parallel()
	for _, kind := range fecKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			site, c := newTrustSite(t), newFECProcess(t, kind)
			now := time.Now()
			hour := unixSeconds(now.Add(time.Hour))
			n := index.NextSerial(now)
			site.publish(t, "1.0.0", n, hour)
			root := t.TempDir()
			boot := func(o bootOpts) bootResult {
				o.keys = site.keys
				return c.boot(t, site.proxy.URL, trustFEC, root, o)
			}
			r := boot(bootOpts{})
			require.Equal(t, 0, r.code, r.out)

			site.proxy.Freeze(t, indexPaths(trustFEC)...)
			site.publish(t, "2.0.0", n+1, unixSeconds(now.Add(7*24*time.Hour))) // the resign job, hidden by the freeze
			before := fecState(t, root)
			tomorrow := now.Add(24 * time.Hour).Unix()
			r = boot(bootOpts{clock: tomorrow})
			assert.Equal(t, 4, r.code, r.out)
			line := reason(t, r)
			assert.Contains(t, line, "expired at "+hour.Format(time.RFC3339))
			assert.Contains(t, line, "the clock says "+time.Unix(tomorrow, 0).UTC().Format(time.RFC3339))
			assert.Equal(t, before, fecState(t, root), "installed software and state unchanged")
			assert.Equal(t, 4, statusExit(t, root))

			site.proxy.Set()
			r = boot(bootOpts{clock: tomorrow})
			require.Equal(t, 0, r.code, "the freeze ended: %s", r.out)
			assert.Equal(t, "2.0.0", testkit.ReadFile(t, filepath.Join(root, "opt/a/version")))
			assert.Equal(t, fmt.Sprintf("%d\n", n+1), testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/accepted-serial")))
		})
	}
}

// A FEC whose clock says 1970 (no battery, no NTP yet) cannot judge expiry:
// it accepts an expired INDEX with a higher serial, says so in one line,
// and still refuses a replay. A FEC whose clock says 2038 sees an INDEX
// valid for a week as expired: refused, the installed software kept.
func TestTrustClockAt1970And2038(t *testing.T) {
	t.Parallel()
	for _, kind := range fecKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			site, c := newTrustSite(t), newFECProcess(t, kind)
			now := time.Now()
			week := unixSeconds(now.Add(7 * 24 * time.Hour))
			n := index.NextSerial(now)
			site.publish(t, "1.0.0", n, week)
			old := site.proxy.Record(t, indexPaths(trustFEC)...)
			root := t.TempDir()
			boot := func(o bootOpts) bootResult {
				o.keys = site.keys
				return c.boot(t, site.proxy.URL, trustFEC, root, o)
			}
			r := boot(bootOpts{})
			require.Equal(t, 0, r.code, r.out)

			// 1970: an INDEX that expired an hour ago, with a higher serial.
			site.publish(t, "2.0.0", n+1, unixSeconds(now.Add(-time.Hour)))
			const epoch1970 = 1 // 0 means the real clock to bootOpts
			r = boot(bootOpts{clock: epoch1970})
			require.Equal(t, 0, r.code, r.out)
			assert.Contains(t, r.out, "before this client's date: INDEX expiry not checked")
			assert.Equal(t, "2.0.0", testkit.ReadFile(t, filepath.Join(root, "opt/a/version")))
			// ... but not an older serial.
			before := fecState(t, root)
			site.proxy.Add(&faultproxy.Rule{Kind: faultproxy.Replay, Recorded: old})
			r = boot(bootOpts{clock: epoch1970})
			assert.Equal(t, 4, r.code, r.out)
			assert.Contains(t, reason(t, r), fmt.Sprintf("serial %d, this FEC already accepted serial %d", n, n+1))
			assert.Equal(t, before, fecState(t, root), "1970: a replay changes nothing")
			site.proxy.Set()

			// 2038: an INDEX valid for a week has expired by this clock.
			site.publish(t, "3.0.0", n+2, week)
			const epoch2038 = 2147483648
			r = boot(bootOpts{clock: epoch2038})
			assert.Equal(t, 4, r.code, r.out)
			assert.Contains(t, reason(t, r), "the clock says 2038-01-19T03:14:08Z")
			assert.Equal(t, before, fecState(t, root), "2038: nothing installed or recorded")
			assert.Equal(t, 4, statusExit(t, root))
		})
	}
}

// A server or cache that swaps two archives (the old version's bytes under
// the new version's name) or truncates one: the download does not match
// the signed INDEX, the archive is refused (exit 4) in one summary line,
// and the installed software stays as it was. When the server is honest
// again the new version is installed.
func TestTrustSwappedAndTruncatedArchive(t *testing.T) {
	t.Parallel()
	for _, kind := range fecKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			site, c := newTrustSite(t), newFECProcess(t, kind)
			week := unixSeconds(time.Now().Add(7 * 24 * time.Hour))
			n := index.NextSerial(time.Now())
			site.publish(t, "1.0.0", n, week)
			oldPath := "/" + site.st.Index(trustFEC).Entries[0].Path
			root := t.TempDir()
			boot := func() bootResult { return c.boot(t, site.proxy.URL, trustFEC, root, bootOpts{keys: site.keys}) }
			r := boot()
			require.Equal(t, 0, r.code, r.out)
			installed := func() map[string]string {
				return testkit.Snapshot(t, root, testkit.SnapshotOptions{Skip: func(rel string) bool {
					// the INDEX itself is genuine: its serial is accepted
					return rel == "var/lib/fecdeploy/status.json" || rel == "var/lib/fecdeploy/accepted-serial"
				}})
			}
			before := installed()

			site.publish(t, "2.0.0", n+1, week)
			newPath := "/" + site.st.Index(trustFEC).Entries[0].Path
			for _, fault := range []struct {
				name  string
				rules []*faultproxy.Rule
			}{
				{"swapped", []*faultproxy.Rule{{Path: newPath, From: oldPath}}},
				{"truncated", []*faultproxy.Rule{{Path: newPath, Kind: faultproxy.Truncate, After: 100}}},
			} {
				site.proxy.Set(fault.rules...)
				r = boot()
				assert.Equal(t, 4, r.code, "%s: %s", fault.name, r.out)
				var lines []string
				for _, l := range strings.Split(r.out, "\n") {
					if strings.HasPrefix(l, "  failed ") {
						lines = append(lines, l)
					}
				}
				if assert.Len(t, lines, 1, "%s: one summary line says why:\n%s", fault.name, r.out) {
					assert.Contains(t, lines[0], "A 2.0.0", fault.name)
					assert.Regexp(t, "sha256|size", lines[0], fault.name)
				}
				assert.Equal(t, before, installed(), "%s: installed software unchanged", fault.name)
			}

			site.proxy.Set()
			r = boot()
			require.Equal(t, 0, r.code, "the server is honest again: %s", r.out)
			assert.Equal(t, "2.0.0", testkit.ReadFile(t, filepath.Join(root, "opt/a/version")))
		})
	}
}

// The keyring (docs/security.md, "Keys"), with the real writer: package
// storage does what fecctl keyring, -sign-key and resign do. The FECs pin
// only the root key and follow the keyring: the Go client as a library
// (fec.Boot with RootKeys), the fec-boot binary (--root-keys) and
// fec-boot.sh (FECDEPLOY_ROOT_KEYS), each as a subtest.

// writerSite is a storage kept by the writer, with a keyring, served by
// nginx behind a fault proxy; software A 1.0.0 is linked to every FEC.
type writerSite struct {
	w     *storage.Storage
	proxy *faultproxy.Proxy
}

func newWriterSite(t *testing.T, fecs []string, root, online clienttest.Key) *writerSite {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w, err := storage.Init(dir, storage.WithSigningKey(online.Private), storage.WithStateDir(t.TempDir()))
	require.NoError(t, err)
	_, err = w.UpdateKeyring(ctx, root.Private, 0, nil, storage.AddKey(online.Public))
	require.NoError(t, err)
	body := clienttest.Compress(t, index.FormatGzip, clienttest.Tar(t, clienttest.Tree("opt/a", map[string]string{"version": "1.0.0"})))
	_, err = w.Publish(ctx, storage.PublishRequest{Kind: index.KindSoftware, Name: "A", Version: version.MustParse("1.0.0"),
		Arch: "x86_64", Body: bytes.NewReader(body)})
	require.NoError(t, err)
	for _, f := range fecs {
		require.NoError(t, w.AddFEC(ctx, f, storage.FECConfig{Arch: "x86_64"}))
		require.NoError(t, w.Link(ctx, f, index.KindSoftware, "A", "1.0.0"))
	}
	ng := testenv.StartNginx(t, dir, testenv.NginxOptions{})
	return &writerSite{w: w, proxy: faultproxy.Start(t, ng.URL)}
}

// rotate is the routine rotation of the online key (docs/security.md):
// keyring add the new key, switch the writer to it, resign every INDEX,
// keyring revoke the old key. pause is waited between the steps.
func (s *writerSite) rotate(t *testing.T, root, old, next clienttest.Key, pause time.Duration) {
	t.Helper()
	ctx := context.Background()
	_, err := s.w.UpdateKeyring(ctx, root.Private, 0, nil, storage.AddKey(next.Public))
	require.NoError(t, err)
	time.Sleep(pause)
	s.w.SetSigningKey(next.Private)
	require.NoError(t, s.w.Resign(ctx))
	time.Sleep(pause)
	_, err = s.w.UpdateKeyring(ctx, root.Private, 0, nil, storage.RevokeKey(index.KeyID(old.Public)))
	require.NoError(t, err)
}

// keyringFEC is a FEC that pins the root key and follows the keyring.
func keyringFEC(base, name string, root string, roots ...clienttest.Key) fec.Config {
	cfg := fec.Config{BaseURL: base, FEC: name, Root: root, AllowedRoots: []string{"opt"},
		RetryWaitMax: 500 * time.Millisecond, ScriptOutput: io.Discard}
	for _, r := range roots {
		cfg.RootKeys = append(cfg.RootKeys, r.Public)
	}
	return cfg
}

// refusedInOneLine checks a Go client refusal: the error, one line.
func refusedInOneLine(t *testing.T, err error, want error) {
	t.Helper()
	require.ErrorIs(t, err, want)
	assert.Equal(t, fec.ExitVerify, fec.ExitCode(err))
	assert.NotContains(t, err.Error(), "\n", "the reason is one line")
}

// keyringKinds are the clients that follow a keyring: the Go client as a
// library and the two clients as processes.
var keyringKinds = []string{"library", "fec-boot", "fec-boot.sh"}

// keyringClient is a FEC client that pins root keys and follows the keyring.
type keyringClient struct {
	kind     string
	proc     *fecProcess // nil: the library (fec.Boot)
	roots    []clienttest.Key
	rootFile string // the roots as a PEM file, for the processes
}

func newKeyringClient(t *testing.T, kind string, roots ...clienttest.Key) *keyringClient {
	t.Helper()
	c := &keyringClient{kind: kind, roots: roots}
	if kind != "library" {
		c.proc = newFECProcess(t, kind)
		c.rootFile = clienttest.KeyFile(t, roots...)
	}
	return c
}

// boot boots FEC name into root. For the library, err is what fec.Boot
// returned and out is "error: <err>"; for a process, err is nil.
func (c *keyringClient) boot(t *testing.T, base, name, root string) (bootResult, error) {
	t.Helper()
	if c.proc != nil {
		return c.proc.boot(t, base, name, root, bootOpts{rootKeys: c.rootFile}), nil
	}
	_, err := fec.Boot(context.Background(), keyringFEC(base, name, root, c.roots...))
	r := bootResult{code: fec.ExitCode(err)}
	if err != nil {
		r.out = "error: " + err.Error()
	}
	return r, err
}

// refused checks a refusal, the same for every client: exit 4 and one line
// that says why (with want's words); the library's error wraps want. The
// caller checks that the FEC's state did not change.
func (c *keyringClient) refused(t *testing.T, root string, r bootResult, err error, want error) {
	t.Helper()
	if c.proc == nil {
		refusedInOneLine(t, err, want)
		return
	}
	assert.Equal(t, fec.ExitVerify, r.code, r.out)
	assert.Contains(t, reason(t, r), want.Error())
	assert.Equal(t, fec.ExitVerify, statusExit(t, root), "the status file says it failed")
}

// signedBy returns recorded answers that serve data signed by key at path
// (and path.sig): what a server holding a leaked or retired key serves.
func signedBy(path string, data []byte, key clienttest.Key) faultproxy.Recorded {
	return faultproxy.Recorded{
		path:          {Status: 200, Body: data},
		path + ".sig": {Status: 200, Body: index.Sign(key.Private, data)},
	}
}

// After a rotation the old online key is revoked; the server serves an
// INDEX that key signed (a leaked key, a higher serial): refused. The
// server then also replays the keyring that still listed the key: refused
// as a keyring replay. Nothing changes on the FEC either time.
func TestTrustRevokedKeyThroughProxy(t *testing.T) {
	t.Parallel()
	for _, kind := range keyringKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			root, on1, on2 := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
			site := newWriterSite(t, []string{trustFEC}, root, on1)
			c, fecRoot := newKeyringClient(t, kind, root), t.TempDir()
			boot := func() (bootResult, error) { return c.boot(t, site.proxy.URL, trustFEC, fecRoot) }
			r, _ := boot()
			require.Equal(t, 0, r.code, r.out)
			oldKeyring := site.proxy.Record(t, "/keys/keyring", "/keys/keyring.sig")

			site.rotate(t, root, on1, on2, 0)
			r, _ = boot()
			require.Equal(t, 0, r.code, "the FEC follows the rotation: %s", r.out)
			before := fecState(t, fecRoot)

			cur := site.proxy.Record(t, indexPaths(trustFEC)[0])[indexPaths(trustFEC)[0]].Body
			ix, err := index.ParseBytes(cur)
			require.NoError(t, err)
			ix.Serial++
			evil, err := ix.Marshal()
			require.NoError(t, err)
			forged := signedBy(indexPaths(trustFEC)[0], evil, on1)
			site.proxy.Set(&faultproxy.Rule{Kind: faultproxy.Replay, Recorded: forged})
			r, err = boot()
			c.refused(t, fecRoot, r, err, index.ErrBadSignature)
			assert.Equal(t, before, fecState(t, fecRoot), "installed software and state unchanged")

			site.proxy.Add(&faultproxy.Rule{Kind: faultproxy.Replay, Recorded: oldKeyring})
			r, err = boot()
			c.refused(t, fecRoot, r, err, index.ErrKeyringReplay)
			assert.Equal(t, before, fecState(t, fecRoot), "installed software and state unchanged")

			site.proxy.Set()
			r, _ = boot()
			require.Equal(t, 0, r.code, "the server is honest again: %s", r.out)
		})
	}
}

// Two FECs pin root key r1 and go offline; meanwhile the site hands over
// to r2, then to r3, and rotates the online key. A FEC whose server hides
// the rotations list cannot walk the chain: refused, nothing changed. Both
// then walk r1 -> r2 -> r3 and boot; from then on a keyring signed by the
// retired r1 is refused.
func TestTrustKeyringChainOfflineAcrossTwoRotations(t *testing.T) {
	t.Parallel()
	for _, kind := range keyringKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r1, r2, r3 := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
			on1, on2 := clienttest.NewKey(t), clienttest.NewKey(t)
			fecs := []string{"fec01", "fec02"}
			site := newWriterSite(t, fecs, r1, on1)
			ctx := context.Background()
			c := newKeyringClient(t, kind, r1)
			roots := map[string]string{}
			boot := func(name string) (bootResult, error) { return c.boot(t, site.proxy.URL, name, roots[name]) }
			for _, f := range fecs {
				roots[f] = t.TempDir()
				r, _ := boot(f)
				require.Equal(t, 0, r.code, r.out)
			}

			_, err := site.w.RotateRoot(ctx, r1.Private, r2.Private, 0)
			require.NoError(t, err)
			_, err = site.w.RotateRoot(ctx, r2.Private, r3.Private, 0)
			require.NoError(t, err)
			site.rotate(t, r3, on1, on2, 0)
			data, _, err := site.w.ReadKeyring(ctx)
			require.NoError(t, err)
			current, err := index.ParseKeyring(data)
			require.NoError(t, err)

			before := fecState(t, roots["fec02"])
			site.proxy.Set(&faultproxy.Rule{Path: "/keys/rotations", Kind: faultproxy.Status, Status: 404})
			r, err := boot("fec02")
			c.refused(t, roots["fec02"], r, err, index.ErrKeyringSig)
			assert.Equal(t, before, fecState(t, roots["fec02"]), "installed software and state unchanged")
			site.proxy.Set()

			for _, f := range fecs {
				r, _ := boot(f)
				require.Equal(t, 0, r.code, "FEC %s walks the chain: %s", f, r.out)
				state := filepath.Join(roots[f], "var/lib/fecdeploy")
				assert.Equal(t, fmt.Sprintf("serial=%d\nreset=0\n%s", current.Serial, index.PublicKeyPEM(r3.Public)),
					testkit.ReadFile(t, filepath.Join(state, fec.KeyringStateFile)), "keyring serial and the root it ends with")
			}

			before = fecState(t, roots["fec01"])
			retired := &index.Keyring{Serial: current.Serial + 1, Expires: current.Expires, Keys: []ed25519.PublicKey{on1.Public}}
			rdata, err := retired.Marshal()
			require.NoError(t, err)
			site.proxy.Set(&faultproxy.Rule{Kind: faultproxy.Replay, Recorded: signedBy("/keys/keyring", rdata, r1)})
			r, err = boot("fec01")
			c.refused(t, roots["fec01"], r, err, index.ErrKeyringSig)
			assert.Equal(t, before, fecState(t, roots["fec01"]), "installed software and state unchanged")
		})
	}
}

// A FEC fetches the keyring just before a rotation starts and the INDEX
// signature just after the writer re-signed with the new key (the proxy
// serves the old keyring once, as such a FEC saw it). The INDEX does not
// verify with the keys it has; it fetches the keyring again with the INDEX
// and boots, instead of failing the boot.
func TestTrustKeyringFetchedJustBeforeRotation(t *testing.T) {
	t.Parallel()
	for _, kind := range keyringKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			root, on1, on2 := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
			site := newWriterSite(t, []string{trustFEC}, root, on1)
			c, fecRoot := newKeyringClient(t, kind, root), t.TempDir()
			r, _ := c.boot(t, site.proxy.URL, trustFEC, fecRoot)
			require.Equal(t, 0, r.code, r.out)
			before := site.proxy.Record(t, "/keys/keyring", "/keys/keyring.sig")
			site.rotate(t, root, on1, on2, 0)
			site.proxy.Set(&faultproxy.Rule{Path: "/keys/keyring", Times: 1, Kind: faultproxy.Replay, Recorded: before},
				&faultproxy.Rule{Path: "/keys/keyring.sig", Times: 1, Kind: faultproxy.Replay, Recorded: before})
			n := site.proxy.Count("/keys/keyring")
			r, _ = c.boot(t, site.proxy.URL, trustFEC, fecRoot)
			require.Equal(t, 0, r.code, "boot during a key rotation: %s", r.out)
			assert.Equal(t, 2, site.proxy.Count("/keys/keyring")-n, "the keyring was fetched again")
		})
	}
}

// The FECs that boot while the online key is rotated: most through the
// library (fec.Boot), some as fec-boot processes and a few as fec-boot.sh
// processes (a shell boot forks a lot: a few keep the test within tens of
// seconds on two cores).
var rotationClients = []struct {
	kind string
	n    int
}{{"library", 50}, {"fec-boot", 10}, {"fec-boot.sh", 3}}

// The online signing key is rotated (keyring add, switch the writer,
// resign, keyring revoke) while FECs boot over and over: 50 through the
// library, 10 fec-boot and 3 fec-boot.sh processes. Every FEC boots once
// first (so that it holds the old keyring), then all boot again and again
// while the key is rotated: every boot succeeds, and afterwards every FEC
// holds the new keyring and an INDEX signed by the new key.
func TestTrustKeyRotationWhileFECsBoot(t *testing.T) {
	t.Parallel()
	root, on1, on2 := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
	type rotFEC struct {
		name, root string
		c          *keyringClient
	}
	var fecs []rotFEC
	var names []string
	for _, k := range rotationClients {
		c := newKeyringClient(t, k.kind, root)
		for range k.n {
			f := rotFEC{name: fmt.Sprintf("rot%02d", len(fecs)), root: t.TempDir(), c: c}
			fecs, names = append(fecs, f), append(names, f.name)
		}
	}
	site := newWriterSite(t, names, root, on1)
	ctx := context.Background()

	var rotated atomic.Bool
	type boot struct {
		fec, kind string
		during    bool
		r         bootResult
	}
	results := make(chan boot, 64)
	var wg, first sync.WaitGroup
	start := make(chan struct{})
	for _, f := range fecs {
		wg.Add(1)
		first.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once // first.Done also when a boot stops this goroutine (t.Fatal)
			defer once.Do(first.Done)
			r, _ := f.c.boot(t, site.proxy.URL, f.name, f.root)
			results <- boot{f.name, f.c.kind, false, r}
			once.Do(first.Done)
			<-start
			for {
				last := rotated.Load()
				r, _ := f.c.boot(t, site.proxy.URL, f.name, f.root)
				results <- boot{f.name, f.c.kind, !last, r}
				if last {
					return
				}
			}
		}()
	}
	var all []boot
	collected := make(chan struct{})
	go func() {
		for b := range results {
			all = append(all, b)
		}
		close(collected)
	}()
	firstBoots := time.Now()
	first.Wait()
	began := time.Now()
	close(start)
	time.Sleep(100 * time.Millisecond)
	site.rotate(t, root, on1, on2, 100*time.Millisecond)
	rotated.Store(true)
	wg.Wait()
	close(results)
	<-collected

	boots, during := map[string]int{}, map[string]int{}
	for _, b := range all {
		assert.Equal(t, 0, b.r.code, "FEC %s (%s): %s", b.fec, b.kind, b.r.out)
		boots[b.kind]++
		if b.during {
			during[b.kind]++
		}
	}
	t.Logf("%d FECs: first boots in %v; boots %v (while the key was rotated: %v) in %v after them", len(fecs),
		began.Sub(firstBoots).Round(time.Millisecond), boots, during, time.Since(began).Round(time.Millisecond))
	for _, k := range rotationClients {
		assert.GreaterOrEqual(t, during[k.kind], k.n, "every %s FEC booted while the key was rotated", k.kind)
	}

	data, _, err := site.w.ReadKeyring(ctx)
	require.NoError(t, err)
	k, err := index.ParseKeyring(data)
	require.NoError(t, err)
	require.Equal(t, []ed25519.PublicKey{on2.Public}, k.Keys)
	for _, f := range fecs {
		state := filepath.Join(f.root, "var/lib/fecdeploy")
		assert.Equal(t, fmt.Sprintf("serial=%d\nreset=0\n%s", k.Serial, index.PublicKeyPEM(root.Public)),
			testkit.ReadFile(t, filepath.Join(state, fec.KeyringStateFile)), "FEC %s (%s)", f.name, f.c.kind)
		paths := indexPaths(f.name)
		rec := site.proxy.Record(t, paths...)
		require.NoError(t, index.VerifySignature(rec[paths[0]].Body, rec[paths[1]].Body, []ed25519.PublicKey{on2.Public}), "signed by the new key")
		ix, err := index.ParseBytes(rec[paths[0]].Body)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d\n", ix.Serial), testkit.ReadFile(t, filepath.Join(state, fec.AcceptedSerialFile)),
			"FEC %s (%s) accepted the INDEX signed by the new key", f.name, f.c.kind)
	}
}
