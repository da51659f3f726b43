// Package fec boots a Front-End Computer from the web storage: Boot fetches
// fecs/<FEC>/INDEX (checking its signature when keys are configured),
// downloads the archives it names in parallel, verifies size and sha256 while
// streaming, unpacks them through the archive package's staged, safe
// extractor, runs the init scripts in name order and writes a status file;
// Install does the archives only. ReadConfig reads a FEC's configuration
// (environment, kernel command line, /etc/fecdeploy.conf); the package parses
// no command line, cmd/fec-boot does. docs/boot.md describes configuration,
// exit codes, the scripts' environment and the status file.
package fec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/verify"
)

var errDeadline = errors.New("boot deadline exceeded")

// Boot runs the whole boot sequence: INDEX, every archive, the init scripts,
// the status file. It returns the status (also on error, unless the
// configuration is invalid) and an error wrapping ErrConfig, ErrUnreachable,
// ErrVerify, ErrInstall or ErrScript; see ExitCode. A failed archive or script
// does not stop the others.
func Boot(ctx context.Context, cfg Config) (*Status, error) {
	cfg.Kinds = nil // a boot installs everything
	return run(ctx, cfg, true)
}

// Install fetches the INDEX and installs the archives of the given kinds
// (none: all of software, configuration and data), skipping installed ones.
// It is what `fec-boot install software` runs from an init script. It runs
// no script and writes no status file.
func Install(ctx context.Context, cfg Config, kinds ...index.Kind) (*Status, error) {
	cfg.Kinds = append(append([]index.Kind(nil), cfg.Kinds...), kinds...)
	return run(ctx, cfg, false)
}

func run(ctx context.Context, cfg Config, boot bool) (*Status, error) {
	st := &Status{Command: "install", Started: time.Now(), Entries: []EntryStatus{}, Scripts: []ScriptStatus{}}
	if boot {
		st.Command = "boot"
	}
	cfg, base, err := cfg.withDefaults()
	if err != nil {
		st.finish(err)
		return st, err
	}
	s := &session{cfg: cfg, base: base}
	st.FEC, st.BaseURL, st.Root, st.DryRun = cfg.FEC, redact(base), cfg.Root, cfg.DryRun
	done := func(err error) (*Status, error) {
		s.mu.Lock()
		st.Repairs = append([]string(nil), s.repairs...)
		s.mu.Unlock()
		st.finish(err)
		if boot && !cfg.DryRun {
			if werr := writeStatus(cfg, st); werr != nil {
				cfg.Logger.Error("cannot write the status file", "path", cfg.StatusFile, "error", werr.Error())
			}
			reportStatus(ctx, cfg, st)
		}
		return st, err
	}
	if boot && cfg.StartJitter > 0 && !cfg.DryRun {
		d := time.Duration(rand.Int64N(int64(cfg.StartJitter) + 1))
		cfg.Logger.Info("start delay against boot storms", "delay", d.String())
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return done(fmt.Errorf("%w: %v", ErrUnreachable, ctx.Err()))
		}
	}
	dctx, cancel := context.WithTimeoutCause(ctx, cfg.Deadline, errDeadline)
	defer cancel()
	if s.f, err = newFetcher(cfg); err != nil {
		return done(err)
	}
	if !cfg.DryRun {
		if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
			return done(fmt.Errorf("%w: creating the root: %v", ErrInstall, err))
		}
		if err := s.checkState(); err != nil {
			return done(err)
		}
		// Staging directories of interrupted runs (a kill, a power cut).
		removed, err := archive.RemoveLeftovers(cfg.Root, cfg.AllowedRoots)
		for _, p := range removed {
			s.repair("removed %s, the staging directory of an interrupted run", p)
		}
		if err != nil {
			cfg.Logger.Warn("cannot remove the staging directory of an interrupted run", "error", err.Error())
		}
	}
	ix, digest, err := s.fetchIndex(dctx)
	if err != nil {
		return done(err)
	}
	st.IndexSHA256 = digest
	cfg.Logger.Info("INDEX fetched", "fec", cfg.FEC, "entries", len(ix.Entries), "sha256", digest)
	for _, m := range index.InstanceMismatches(ix.Entries) {
		st.Warnings = append(st.Warnings, m.String()+"; fix it on the storage (fecctl switch)")
		cfg.Logger.Warn("instance configuration does not follow its software", "software", m.Software,
			"software_version", m.SoftwareVersion, "instance", m.Instance, "instance_version", m.InstanceVersion)
	}

	var archives []index.Entry
	for _, e := range ix.Entries {
		if e.Kind.IsArchive() && wanted(cfg.Kinds, e.Kind) {
			archives = append(archives, e)
		}
	}
	var kept []EntryStatus
	if wanted(cfg.Kinds, index.KindSoftware) {
		kept = s.keepDev(ix)
	}
	st.Entries = make([]EntryStatus, len(archives))
	errs := s.installAll(dctx, archives, st.Entries)
	st.Entries = append(st.Entries, kept...)
	if boot && !cfg.DryRun {
		if errors.Join(errs...) == nil {
			st.Removed = s.prune(ix)
		} else {
			cfg.Logger.Warn("old versions are kept: not every archive of the INDEX is installed")
		}
	}
	if boot {
		if err := s.bootScripts(ctx, dctx, ix, st); err != nil {
			errs = append(errs, err)
		}
	}
	return done(errors.Join(errs...))
}

func (st *Status) finish(err error) {
	st.Finished = time.Now()
	st.DurationMS = st.Finished.Sub(st.Started).Milliseconds()
	st.ExitCode = ExitCode(err)
	if err != nil {
		st.Error = err.Error()
	}
}

// session is one Boot or Install: the configuration with its defaults, the
// base URL (parsed once) and the fetcher every request goes through.
type session struct {
	cfg  Config
	base *url.URL
	f    *fetcher

	mu      sync.Mutex
	repairs []string // broken state found and what was done (Status.Repairs)
}

func writeStatus(cfg Config, st *Status) error {
	data, err := st.JSON()
	if err != nil {
		return err
	}
	return writeFileAtomic(cfg.StatusFile, data, 0o644)
}

func wanted(kinds []index.Kind, k index.Kind) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// fetchIndex gets fecs/<FEC>/INDEX (and INDEX.sig when keys are configured),
// verifies the signature before parsing, and checks that it is this FEC's.
func (s *session) fetchIndex(ctx context.Context) (*index.Index, string, error) {
	cfg, f := s.cfg, s.f
	u := s.base.JoinPath(index.IndexURLPath(cfg.FEC))
	data, err := f.getSmall(ctx, u, index.MaxSize)
	// A FEC that boots before the web server keeps asking until the deadline:
	// each round is a full set of retries, then a jittered pause.
	for round := 1; err != nil && indexRetryable(err) && ctx.Err() == nil; round++ {
		wait := time.Duration(rand.Int64N(int64(cfg.RetryWaitMax) + 1))
		cfg.Logger.Warn("storage unreachable, trying again until the deadline", "url", redact(u), "round", round, "wait", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			var next error
			data, next = f.getSmall(ctx, u, index.MaxSize)
			if next == nil || ctx.Err() == nil {
				err = next
			} // else keep the last answer: it says more than "deadline exceeded"
		}
	}
	if err != nil {
		var he *HTTPError
		switch {
		case errors.As(err, &he) && (he.StatusCode == 404 || he.StatusCode == 403):
			return nil, "", fmt.Errorf("%w: FEC %q is not known to the storage: %w; check the FEC name (--fec, fecdeploy.fec=) and the base URL (--url, fecdeploy.url=)",
				ErrUnreachable, cfg.FEC, err)
		case errors.Is(err, errTooLarge):
			return nil, "", fmt.Errorf("%w: %w: %v", ErrVerify, index.ErrTooLarge, err)
		case errors.Is(err, errHTTPRedirect):
			return nil, "", fmt.Errorf("%w: fetching the INDEX of FEC %q: %w", ErrVerify, cfg.FEC, err)
		case ctx.Err() != nil && errors.Is(context.Cause(ctx), errDeadline):
			return nil, "", fmt.Errorf("%w: no INDEX for FEC %q within the deadline of %v: %w", ErrUnreachable, cfg.FEC, cfg.Deadline, err)
		}
		return nil, "", fmt.Errorf("%w: fetching the INDEX of FEC %q: %w", ErrUnreachable, cfg.FEC, err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	var ring *keyringResult
	if len(cfg.RootKeys) > 0 {
		var err error
		if ring, err = s.keyring(ctx); err != nil {
			return nil, digest, err
		}
		cfg.PublicKeys = ring.ring.Keys
	}
	// A reindex replaces INDEX and INDEX.sig one after the other: a FEC
	// that fetched between the two renames holds a pair that does not
	// match, and a FEC whose INDEX is rewritten several times a second can
	// meet that again and again. A pair that does not verify is fetched
	// again, with backoff, until the deadline; only the same pair refused
	// for pairSettle (no writer leaves a gap that long) is final.
	var prevData, prevSig []byte
	var settled time.Time
	for attempt := 0; len(cfg.PublicKeys) > 0; attempt++ {
		su := s.base.JoinPath(index.SigURLPath(cfg.FEC))
		sig, err := f.getSmall(ctx, su, 1024)
		var he *HTTPError
		switch {
		case errors.As(err, &he) && he.StatusCode == 404:
			sig = nil // unsigned: VerifySignature says so
		case errors.Is(err, errHTTPRedirect):
			return nil, digest, fmt.Errorf("%w: fetching the INDEX signature: %w", ErrVerify, err)
		case errors.Is(err, errTooLarge):
			// An ed25519 signature is 64 bytes: this is no signature.
			return nil, digest, fmt.Errorf("%w: INDEX of FEC %q refused: %w: %v", ErrVerify, cfg.FEC, index.ErrBadSignature, err)
		case err != nil:
			return nil, digest, fmt.Errorf("%w: fetching the INDEX signature: %v", ErrUnreachable, err)
		}
		verr := index.VerifySignature(data, sig, cfg.PublicKeys)
		if verr == nil {
			break
		}
		now := time.Now()
		if attempt == 0 || !bytes.Equal(data, prevData) || !bytes.Equal(sig, prevSig) {
			settled = now // a new pair: the writer may be under way
		}
		prevData, prevSig = data, sig
		if now.Sub(settled) >= pairSettle(cfg) || ctx.Err() != nil {
			return nil, digest, fmt.Errorf("%w: INDEX of FEC %q from %s refused: %w", ErrVerify, cfg.FEC, redact(u), verr)
		}
		if attempt == 0 {
			cfg.Logger.Warn("INDEX signature does not verify; fetching INDEX and signature again (a reindex may be under way)",
				"url", redact(u), "error", verr.Error())
		}
		wait := backoff(0)(cfg.RetryWaitMin, min(cfg.RetryWaitMax, time.Second), attempt, nil)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if data, err = f.getSmall(ctx, u, index.MaxSize); err != nil {
			if ctx.Err() != nil {
				return nil, digest, fmt.Errorf("%w: INDEX of FEC %q from %s refused: %w", ErrVerify, cfg.FEC, redact(u), verr)
			}
			return nil, digest, fmt.Errorf("%w: fetching the INDEX of FEC %q again: %w", ErrUnreachable, cfg.FEC, err)
		}
		if len(cfg.RootKeys) > 0 {
			// The keyring may have changed too: a key rotation under way.
			if ring, err = s.keyring(ctx); err != nil {
				return nil, digest, err
			}
			cfg.PublicKeys = ring.ring.Keys
		}
		sum = sha256.Sum256(data)
		digest = hex.EncodeToString(sum[:])
	}
	ix, err := index.ParseBytes(data)
	if err != nil {
		return nil, digest, fmt.Errorf("%w: INDEX of FEC %q from %s: %w", ErrVerify, cfg.FEC, redact(u), err)
	}
	if ix.FEC != cfg.FEC {
		return nil, digest, fmt.Errorf("%w: INDEX at %s is for FEC %q, not %q", ErrVerify, redact(u), ix.FEC, cfg.FEC)
	}
	if len(cfg.PublicKeys) > 0 { // serial and expiry mean something only when signed
		if err := s.checkFresh(ix, redact(u), ring); err != nil {
			return nil, digest, err
		}
	}
	return ix, digest, nil
}

// pairSettle is how long the same INDEX and INDEX.sig must keep failing
// verification before the INDEX is refused: twice retry_wait_max, between
// 1 s and 10 s. A writer renames the two files milliseconds apart.
func pairSettle(cfg Config) time.Duration {
	return min(max(2*cfg.RetryWaitMax, time.Second), 10*time.Second)
}

// indexRetryable: network errors, 408, 429 and 5xx (but 501) are worth
// another round; 403, 404 and an oversized INDEX are not.
func indexRetryable(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		c := he.StatusCode
		return c == 408 || c == 429 || (c >= 500 && c != 501)
	}
	return !errors.Is(err, errTooLarge) && !errors.Is(err, ErrConfig) && !isCertError(err) && !errors.Is(err, errHTTPRedirect)
}

// installAll installs the archives with at most cfg.Parallel downloads at
// once and fills out[i] for archives[i].
//
// Downloads, verification and staging run in parallel, but the staged
// archives are committed in INDEX order: archive i moves into place only
// after every archive before it has been committed or has failed. Two
// archives that carry the same path (or the same directory with different
// modes) thus give the same tree whatever the download timing, as with the
// shell client. A download slot is taken in INDEX order and given back as
// soon as the archive is staged (not when it is committed), so an archive
// waiting for its turn never holds a slot that an earlier one needs: the
// earliest unfinished archive can always make progress. An archive whose
// turn comes after the deadline or a cancellation is discarded.
func (s *session) installAll(ctx context.Context, archives []index.Entry, out []EntryStatus) []error {
	cfg := s.cfg
	errs := make([]error, len(archives))
	begun := time.Now()                   // files modified since were written by this run, not local data
	recs := make([]record, len(archives)) // the records before this run
	dirs := make([]string, len(archives)) // the version directory each now owns
	var todo []int
	for i, e := range archives {
		out[i] = EntryStatus{Kind: string(e.Kind), Name: e.Name, Version: e.Version, Dev: e.Dev, SHA256: e.SHA256}
		recs[i], _ = s.readRecord(e.Kind, e.Name)
		if !cfg.Force && recs[i].SHA256 == e.SHA256 {
			out[i].Action = ActionSkipped
			cfg.progress(Event{Kind: e.Kind, Name: e.Name, Phase: ActionSkipped, Total: e.Size})
			continue
		}
		if cfg.DryRun {
			out[i].Action = ActionDryRun
			out[i].Bytes = e.Size
			continue
		}
		todo = append(todo, i)
	}
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	// turn is closed when the archive before (of those to install) is
	// committed or has failed, and with it every earlier one.
	turn := make(chan struct{})
	close(turn)
	for _, i := range todo {
		e := archives[i]
		sem <- struct{}{} // in INDEX order
		prev, done := turn, make(chan struct{})
		turn = done
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			start := time.Now()
			staged, n, err := s.installEntry(ctx, e)
			<-sem
			took := time.Since(start) // the time waiting for the turn is not the archive's
			out[i].Bytes = n
			if err == nil {
				<-prev
				if e.Kind == index.KindData && !cfg.Force {
					if why := newerLocalData(cfg.Root, staged, begun); why != "" {
						staged.Discard()
						out[i].DurationMS = took.Milliseconds()
						out[i].Action, out[i].Error = ActionKept, fmt.Sprintf("%s %s: %s", e.Kind, e.Name, why)
						cfg.Logger.Warn("persistent data not restored: newer local data", "name", e.Name, "reason", why)
						cfg.progress(Event{Kind: e.Kind, Name: e.Name, Phase: ActionKept, Total: e.Size})
						return
					}
				}
				cstart := time.Now()
				dirs[i], err = s.commitEntry(ctx, staged, e, recs[i])
				took += time.Since(cstart)
			}
			out[i].DurationMS = took.Milliseconds()
			if err != nil {
				err = fmt.Errorf("%s %s: %w", e.Kind, e.Name, err)
				out[i].Action, out[i].Error = ActionFailed, err.Error()
				errs[i] = err
				cfg.Logger.Error("install failed", "kind", string(e.Kind), "name", e.Name, "error", err.Error())
				cfg.progress(Event{Kind: e.Kind, Name: e.Name, Phase: ActionFailed, Err: err})
				<-prev // done only once every earlier archive is
				return
			}
			out[i].Action = ActionInstalled
			cfg.Logger.Info("installed", "kind", string(e.Kind), "name", e.Name, "version", e.Version, "bytes", n, "duration", took.String())
			cfg.progress(Event{Kind: e.Kind, Name: e.Name, Phase: ActionInstalled, Bytes: n, Total: e.Size})
		}()
	}
	wg.Wait()
	// Record what was installed only once it is on disk: one syncfs for the
	// whole boot (not an fsync per archive, which on ext4 would write each
	// archive out while the others are still being extracted). A crash
	// before this point means a reinstall at the next boot, never a
	// half-written install taken as done.
	var installed []int
	for i := range archives {
		if out[i].Action == ActionInstalled {
			installed = append(installed, i)
		}
	}
	if len(installed) == 0 {
		return errs
	}
	start := time.Now()
	if err := syncFS(cfg.Root); err != nil {
		cfg.Logger.Warn("cannot flush the installed files to disk; they will be installed again at the next boot", "root", cfg.Root, "error", err.Error())
		return errs
	}
	cfg.Logger.Info("installed files flushed to disk", "duration", time.Since(start).String())
	for _, i := range installed {
		if err := s.writeRecord(archives[i].Kind, archives[i].Name, recs[i].next(archives[i], dirs[i])); err != nil {
			err = fmt.Errorf("%s %s: %w: installed, but recording it in %s failed: %v", archives[i].Kind, archives[i].Name, ErrInstall, cfg.StateDir, err)
			out[i].Action, out[i].Error = ActionFailed, err.Error()
			errs[i] = err
		}
	}
	return errs
}

// commitEntry moves a staged archive into place, or discards it when the
// boot was cancelled or ran out of time while it waited for its turn. It
// returns the version directory the entry owns now ("" for none): a
// software archive's version directory that did not exist (committed
// whole), or that the entry's record says the client installed, which is
// then replaced as a whole (a new dev build, a forced republish: files
// the new build does not have are gone).
func (s *session) commitEntry(ctx context.Context, staged *archive.Staged, e index.Entry, prev record) (string, error) {
	if ctx.Err() != nil {
		staged.Discard()
		return "", fmt.Errorf("%w: staged, but the boot ended before its turn to be committed: %w", ErrInstall, context.Cause(ctx))
	}
	vd := ""
	if e.Kind == index.KindSoftware {
		vd = versionDir(staged.Prefix(), e.Name, e.Version, s.cfg.AllowedRoots)
	}
	var err error
	switch {
	case vd == "":
		_, err = staged.Commit()
	default:
		_, serr := os.Lstat(filepath.Join(s.cfg.Root, filepath.FromSlash(vd)))
		exists := serr == nil
		switch {
		case !exists:
			_, err = staged.Commit() // created whole: ours
		case prev.owns(vd, e.Version, true):
			_, err = staged.CommitReplacing(vd)
		default:
			// Not the client's own (installed by hand or by another
			// archive): merged, and never removed.
			vd = ""
			_, err = staged.Commit()
		}
	}
	if err != nil {
		return "", classify(ctx, fmt.Errorf("committing into %s: %w", s.cfg.Root, err))
	}
	return vd, nil
}

func (c Config) progress(ev Event) {
	if c.Progress != nil {
		c.Progress(ev)
	}
}

// installEntry downloads, verifies and stages one archive, starting over (at
// most MaxRestarts times) when a resumed download cannot continue. The caller
// commits or discards what it returns.
func (s *session) installEntry(ctx context.Context, e index.Entry) (*archive.Staged, int64, error) {
	u := s.base.JoinPath(e.Path)
	for attempt := 0; ; attempt++ {
		staged, n, err := s.fetchAndStage(ctx, u, e)
		if err == nil {
			return staged, n, nil
		}
		if errors.Is(err, ErrRestart) && attempt < s.cfg.MaxRestarts && ctx.Err() == nil {
			s.cfg.Logger.Warn("download starts over", "url", redact(u), "reason", err.Error())
			continue
		}
		return nil, n, classify(ctx, err)
	}
}

// downloadError marks errors of the HTTP stream (as opposed to the archive's
// content) when they come back through archive.Stage.
type downloadError struct{ err error }

func (e *downloadError) Error() string { return e.err.Error() }
func (e *downloadError) Unwrap() error { return e.err }

type streamReader struct {
	r    io.Reader
	n    int64
	tick func(int64)
}

func (s *streamReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.tick != nil && n > 0 {
		s.tick(s.n)
	}
	if err != nil && err != io.EOF {
		if !errors.Is(err, ErrRestart) {
			err = &downloadError{err}
		}
	}
	return n, err
}

func (s *session) fetchAndStage(ctx context.Context, u *url.URL, e index.Entry) (*archive.Staged, int64, error) {
	cfg := s.cfg
	rr, err := s.f.openResuming(ctx, u)
	if err != nil {
		return nil, 0, &downloadError{err}
	}
	defer rr.Close()
	sr := &streamReader{r: rr}
	if cfg.Progress != nil {
		var last int64
		sr.tick = func(n int64) {
			if n-last >= 1<<20 || n == e.Size {
				last = n
				cfg.Progress(Event{Kind: e.Kind, Name: e.Name, Phase: "download", Bytes: n, Total: e.Size})
			}
		}
	}
	vr := verify.NewReader(sr, e.Size, e.SHA256)
	opts := archive.UnpackOptions{AllowedRoots: cfg.AllowedRoots}
	if cfg.Parallel > 1 {
		// The parallel archives keep the cores busy: a decoder without
		// goroutines of its own saves a copy of every byte (about a sixth
		// of a boot's CPU, docs/benchmarks.md).
		opts.DecoderConcurrency = 1
	}
	staged, err := archive.Stage(ctx, vr, cfg.Root, opts)
	if err != nil {
		if (errors.Is(err, archive.ErrCorrupt) || errors.Is(err, index.ErrUnknownFormat)) && ctx.Err() == nil {
			// The archive looked broken; say whether its bytes were the
			// published ones (the verifier's failure sticks; otherwise this
			// reads the rest and checks it).
			if _, verr := io.Copy(io.Discard, vr); verr != nil && isVerifyErr(verr) {
				err = fmt.Errorf("%w (%v)", verr, err)
			}
		}
		return nil, sr.n, err
	}
	// Stage reads to EOF; make sure the verifier saw the end.
	if _, err := io.Copy(io.Discard, vr); err != nil {
		staged.Discard()
		return nil, sr.n, err
	}
	return staged, sr.n, nil
}

func isVerifyErr(err error) bool {
	return errors.Is(err, verify.ErrSizeMismatch) || errors.Is(err, verify.ErrDigestMismatch)
}

// classify wraps an install error in its class: verification (the bytes or
// the archive's content are not what was published, or unsafe) or install.
func classify(ctx context.Context, err error) error {
	var de *downloadError
	switch {
	case isVerifyErr(err), errors.Is(err, errHTTPRedirect):
		return fmt.Errorf("%w: %w", ErrVerify, err)
	case errors.As(err, &de):
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), errDeadline) {
			return fmt.Errorf("%w: %w: %w", ErrInstall, errDeadline, err)
		}
		return fmt.Errorf("%w: %w", ErrInstall, err)
	case errors.Is(err, archive.ErrUnsafeEntry), errors.Is(err, archive.ErrTooLarge),
		errors.Is(err, archive.ErrTooManyEntries), errors.Is(err, index.ErrUnknownFormat),
		errors.Is(err, archive.ErrCorrupt):
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	return fmt.Errorf("%w: %w", ErrInstall, err)
}

// initEntries returns the init entries in name order.
func initEntries(ix *index.Index) []index.Entry {
	var out []index.Entry
	for _, e := range ix.Entries {
		if e.Kind == index.KindInit {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var errTooLarge = errors.New("answer too large")

// newerLocalData applies the restore policy of persistent data: a data
// archive never overwrites newer local data. When a regular file below the
// directories the archive covers (its top entries) was modified after the
// newest file in the archive (and before begun: files this run installed
// are not local data), it returns why (naming that file) and the archive is
// not restored; "" otherwise. On a diskless FEC those directories are empty
// at boot; on a FEC with a disk, data changed since the snapshot was taken
// is newer. docs/persistence.md.
func newerLocalData(root string, staged *archive.Staged, begun time.Time) string {
	newest := staged.NewestModTime()
	for _, top := range staged.Tops() {
		var found string
		var at time.Time
		_ = filepath.WalkDir(filepath.Join(root, filepath.FromSlash(top)), func(p string, d fs.DirEntry, err error) error {
			if err != nil || found != "" || !d.Type().IsRegular() {
				return nil
			}
			// Whole seconds, as tar and busybox find -newer compare.
			if fi, err := d.Info(); err == nil && fi.ModTime().Truncate(time.Second).After(newest) &&
				!fi.ModTime().Truncate(time.Second).After(begun.Truncate(time.Second)) {
				found, at = p, fi.ModTime()
				return filepath.SkipAll
			}
			return nil
		})
		if found != "" {
			rel, _ := filepath.Rel(root, found)
			return fmt.Sprintf("kept the local data: /%s (modified %s) is newer than the snapshot (newest file %s); remove the local data, or install with --force, to restore the snapshot",
				filepath.ToSlash(rel), at.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339))
		}
	}
	return ""
}
