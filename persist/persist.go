// Package persist pulls the persistent data of FECs into the web storage:
// for every FEC with a persistent-data/ folder it streams each declared data
// set over ssh (the system OpenSSH client, busybox-compatible `tar -c` on
// the FEC), checks the archive while it arrives, compresses it in a format
// the FEC can decode and stores it as a new generation that its INDEX names
// (storage.WriteSnapshot). A failed, truncated, oversized or empty pull
// never replaces the previous snapshot. docs/persistence.md describes it.
package persist

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Errors of this package; test with errors.Is.
var (
	// ErrIncomplete: the run finished, but not every FEC was persisted
	// (a FEC failed, or a data set was empty and its previous snapshot kept).
	ErrIncomplete = errors.New("persist: not every FEC was persisted")
	// ErrUnsafe: the archive from the FEC holds something a snapshot must
	// not (an entry outside the declared directories, a device, a hard link).
	ErrUnsafe = errors.New("persist: unsafe archive from the FEC")
	// ErrQuota: the FEC's snapshots exceed its quota.
	ErrQuota = errors.New("persist: quota exceeded")
	// ErrRemote: ssh or the remote tar failed (unreachable, host key,
	// authentication, the session died, tar reported an error).
	ErrRemote = errors.New("persist: pulling from the FEC failed")
	// ErrEmpty: the data set is missing or empty on the FEC.
	ErrEmpty = errors.New("persist: data set missing or empty on the FEC")
)

// Defaults of Options.
const (
	DefaultParallel       = 8
	DefaultQuota          = int64(1 << 30)
	DefaultConnectTimeout = 10 * time.Second
	DefaultAliveInterval  = 10 * time.Second
	DefaultTimeout        = 30 * time.Minute
)

// Options configure Run. The zero value is usable.
type Options struct {
	// FECs restricts the run to these FECs (default: every FEC with a
	// persistent-data/ folder). A named FEC without one is reported failed.
	FECs []string
	// Parallel is how many FECs are pulled at once (default 8).
	Parallel int
	// Keep is how many generations of a data set are kept (default 5).
	Keep int
	// Quota caps the compressed bytes one FEC's snapshots may take in one
	// run, all data sets together (default 1 GiB); persist_quota= in the
	// FEC's fec.conf (bytes, or with a K, M or G suffix) overrides it.
	Quota int64
	// AllowEmpty stores a missing or empty data set as an empty snapshot.
	// Without it the previous snapshot stays current and the set is reported
	// "kept" (a FEC that rebooted and has not restored yet looks like that).
	AllowEmpty bool
	// SSH is the ssh program (default "ssh", the system OpenSSH client).
	SSH string
	// SSHArgs are added before the host, e.g. {"-F", "/etc/fecdeploy/ssh_config"}.
	// The user's ~/.ssh/config, keys, known_hosts and jump hosts apply unless
	// these say otherwise. Host keys are checked: BatchMode refuses an
	// unknown or changed host key.
	SSHArgs []string
	// ConnectTimeout is ssh's ConnectTimeout (default 10s).
	ConnectTimeout time.Duration
	// AliveInterval is ssh's ServerAliveInterval (default 10s, with
	// ServerAliveCountMax 3): a FEC silent for 3 intervals is given up.
	AliveInterval time.Duration
	// Timeout bounds one FEC's whole pull (default 30 minutes).
	Timeout time.Duration
	// Compress says where snapshots are compressed: "fec" (default) runs
	// `tar -czf` on the FEC and stores its gzip stream verbatim after
	// checking it (as cheap for the writer host as a bare ssh tar); "here"
	// has the FEC send a plain tar and compresses it on the writer host,
	// zstd when the FEC decodes zstd (spares a slow FEC's CPU, costs the
	// network the uncompressed bytes). A FEC that cannot decode gzip is
	// always compressed here. persist_compress= in a FEC's fec.conf
	// overrides it for that FEC.
	Compress string
	// Logger gets a line per data set (nil: silent).
	Logger *slog.Logger
	// Done is called once per FEC when it is finished (from several
	// goroutines; the calls are serialised).
	Done func(Result)
}

// Actions and statuses in results.
const (
	StatusPersisted = "persisted" // every data set stored as a new generation
	StatusKept      = "kept"      // a data set was empty or missing: the previous snapshot stays
	StatusFailed    = "failed"    // the previous snapshot stays; retried next run
	StatusNone      = "none"      // the FEC declares no data set
)

// SetResult is the outcome for one data set.
type SetResult struct {
	Set        string   `json:"set"`
	Status     string   `json:"status"`
	Reason     string   `json:"reason,omitempty"`
	Generation int      `json:"generation,omitempty"`
	Path       string   `json:"path,omitempty"`
	Format     string   `json:"format,omitempty"`
	Bytes      int64    `json:"bytes"`     // compressed bytes stored
	TarBytes   int64    `json:"tar_bytes"` // uncompressed tar bytes received
	Files      int      `json:"files"`
	Warnings   []string `json:"warnings,omitempty"`
	DurationMS int64    `json:"duration_ms"`
	Err        error    `json:"-"`
}

// Result is the outcome for one FEC.
type Result struct {
	FEC        string      `json:"fec"`
	Status     string      `json:"status"`
	Reason     string      `json:"reason,omitempty"`
	Bytes      int64       `json:"bytes"`
	DurationMS int64       `json:"duration_ms"`
	Sets       []SetResult `json:"sets"`
	Err        error       `json:"-"`
}

// Run persists every FEC (or opts.FECs), at most opts.Parallel at once. One
// FEC failing never stops the others. It returns one result per FEC, in
// the order of the FECs, and ErrIncomplete when not every FEC was
// persisted; an error reading the storage's list of FECs is returned alone.
func Run(ctx context.Context, st *storage.Storage, opts Options) ([]Result, error) {
	opts = opts.withDefaults()
	fecs := opts.FECs
	if len(fecs) == 0 {
		var err error
		if fecs, err = st.PersistentFECs(ctx); err != nil {
			return nil, err
		}
	}
	results := make([]Result, len(fecs))
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, fec := range fecs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := persistFEC(ctx, st, fec, opts)
			results[i] = r
			if opts.Done != nil {
				mu.Lock()
				opts.Done(r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.Status == StatusFailed || r.Status == StatusKept {
			return results, ErrIncomplete
		}
	}
	return results, nil
}

func (o Options) withDefaults() Options {
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Keep <= 0 {
		o.Keep = storage.DefaultKeepGenerations
	}
	if o.Quota <= 0 {
		o.Quota = DefaultQuota
	}
	if o.SSH == "" {
		o.SSH = "ssh"
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.AliveInterval <= 0 {
		o.AliveInterval = DefaultAliveInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// fecPlan is what fec.conf says about pulling a FEC.
type fecPlan struct {
	// verbatim: the FEC compresses (tar -czf) and the gzip stream is
	// stored as it comes, checked on the way; otherwise the FEC sends a
	// plain tar, compressed here in format.
	verbatim bool
	host     string // ssh_host=, default the FEC's name
	root     string // persist_root=, default "/"
	format   index.Format
	quota    int64
}

func planFor(c storage.FECConfig, fec string, o Options) (fecPlan, error) {
	p := fecPlan{host: fec, root: "/", format: index.FormatGzip, quota: o.Quota}
	compress := o.Compress
	if v := c.Other["persist_compress"]; v != "" {
		compress = v
	}
	switch {
	case compress == "" || compress == "fec":
		if c.CanDecode(index.FormatGzip) {
			p.verbatim = true
		} else {
			p.format = index.FormatZstd
		}
	case compress == "here":
		if c.CanDecode(index.FormatZstd) {
			p.format = index.FormatZstd
		}
	default:
		return p, fmt.Errorf("%w: FEC %s: compress %q (persist_compress= in fec.conf or -compress: want fec or here)", storage.ErrBadRequest, fec, compress)
	}
	if h := c.Other["ssh_host"]; h != "" {
		if strings.HasPrefix(h, "-") || strings.ContainsAny(h, " \t") {
			return p, fmt.Errorf("%w: FEC %s: ssh_host=%q in fec.conf is not a host name", storage.ErrBadRequest, fec, h)
		}
		p.host = h
	}
	if r := c.Other["persist_root"]; r != "" {
		if !path.IsAbs(r) {
			return p, fmt.Errorf("%w: FEC %s: persist_root=%q in fec.conf is not absolute", storage.ErrBadRequest, fec, r)
		}
		p.root = path.Clean(r)
	}
	if q := c.Other["persist_quota"]; q != "" {
		n, err := ParseSize(q)
		if err != nil {
			return p, fmt.Errorf("%w: FEC %s: persist_quota=%q in fec.conf: %v", storage.ErrBadRequest, fec, q, err)
		}
		p.quota = n
	}
	return p, nil
}

// ParseSize parses a byte count with an optional K, M or G suffix (powers
// of 1024).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	if s != "" {
		switch strings.ToUpper(s[len(s)-1:]) {
		case "K":
			mult = 1 << 10
		case "M":
			mult = 1 << 20
		case "G":
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive number of bytes, e.g. 500M")
	}
	return n * mult, nil
}

func persistFEC(ctx context.Context, st *storage.Storage, fec string, o Options) (r Result) {
	start := time.Now()
	r = Result{FEC: fec}
	defer func() {
		r.DurationMS = time.Since(start).Milliseconds()
		for _, s := range r.Sets {
			r.Bytes += s.Bytes
		}
	}()
	fail := func(err error) Result {
		r.Status, r.Reason, r.Err = StatusFailed, err.Error(), err
		o.Logger.Error("persist failed", "fec", fec, "error", err.Error())
		return r
	}
	c, err := st.FECConfig(ctx, fec)
	if err != nil {
		return fail(err)
	}
	plan, err := planFor(c, fec, o)
	if err != nil {
		return fail(err)
	}
	sets, err := st.DataSets(ctx, fec)
	if err != nil {
		return fail(err)
	}
	if len(sets) == 0 {
		r.Status, r.Reason = StatusNone, "no data set declared (fecctl persist add)"
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	quota := plan.quota
	r.Status = StatusPersisted
	for _, ds := range sets {
		sr := pullSet(ctx, st, fec, plan, ds, &quota, o)
		r.Sets = append(r.Sets, sr)
		switch {
		case sr.Status == StatusFailed:
			r.Status = StatusFailed
			if r.Err == nil {
				r.Reason, r.Err = sr.Set+": "+sr.Reason, sr.Err
			}
		case sr.Status == StatusKept && r.Status == StatusPersisted:
			r.Status, r.Reason = StatusKept, sr.Set+": "+sr.Reason
		}
	}
	return r
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RemoteCommand is the command run on the FEC for a data set: POSIX sh and
// busybox tar only. It archives, relative to root, the declared directories
// that exist (a missing one is skipped; none at all gives no output and
// exit 0) without following symlinks, gzip-compressed when gz.
func RemoteCommand(root string, dirs []string, gz bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cd %s || exit 97; set --; for d in", shellQuote(root))
	for _, d := range dirs {
		b.WriteString(" " + shellQuote(strings.TrimPrefix(d, "/")))
	}
	b.WriteString(`; do if [ -e "$d" ] || [ -L "$d" ]; then set -- "$@" "$d"; fi; done; [ $# -eq 0 ] && exit 0; exec tar -c`)
	if gz {
		b.WriteString("z")
	}
	b.WriteString(`f - "$@"`)
	return b.String()
}

func (o Options) sshArgs(host, command string) []string {
	args := []string{"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=" + strconv.Itoa(int(o.ConnectTimeout.Seconds()+0.5)),
		"-o", "ServerAliveInterval=" + strconv.Itoa(max(1, int(o.AliveInterval.Seconds()+0.5))),
		"-o", "ServerAliveCountMax=3"}
	args = append(args, o.SSHArgs...)
	return append(args, "--", host, command)
}

// tailBuffer keeps the last bytes written to it (ssh's and tar's stderr).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(strings.ReplaceAll(string(t.b), "\n", " | ")), " ")
}

func pullSet(ctx context.Context, st *storage.Storage, fec string, plan fecPlan, ds storage.DataSet, quota *int64, o Options) (sr SetResult) {
	start := time.Now()
	sr = SetResult{Set: ds.Name, Format: string(plan.format)}
	defer func() {
		sr.DurationMS = time.Since(start).Milliseconds()
		if sr.Err != nil {
			sr.Reason = sr.Err.Error()
			if errors.Is(sr.Err, ErrEmpty) {
				sr.Status = StatusKept
				o.Logger.Warn("data set empty or missing on the FEC, previous snapshot kept", "fec", fec, "set", ds.Name)
			} else {
				sr.Status = StatusFailed
				o.Logger.Error("persist failed, previous snapshot kept", "fec", fec, "set", ds.Name, "error", sr.Reason)
			}
			return
		}
		o.Logger.Info("persisted", "fec", fec, "set", ds.Name, "generation", sr.Generation, "bytes", sr.Bytes, "duration", time.Since(start).String())
	}()
	cmd := exec.CommandContext(ctx, o.SSH, o.sshArgs(plan.host, RemoteCommand(plan.root, ds.Dirs, plan.verbatim))...)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		sr.Err = err
		return
	}
	if err := cmd.Start(); err != nil {
		sr.Err = fmt.Errorf("%w: FEC %s: starting %s: %v", ErrRemote, fec, o.SSH, err)
		return
	}
	waited := false
	wait := func() error {
		waited = true
		err := cmd.Wait()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: FEC %s (%s): gave up after %s: %v", ErrRemote, fec, plan.host, o.Timeout, context.Cause(ctx))
		}
		msg := stderr.String()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			switch ee.ExitCode() {
			case 255:
				return fmt.Errorf("%w: FEC %s (%s): ssh failed (unreachable, host key or authentication; it is retried next run): %s", ErrRemote, fec, plan.host, msg)
			case 97:
				return fmt.Errorf("%w: FEC %s (%s): no directory %s on the FEC (persist_root= in fec.conf)", ErrRemote, fec, plan.host, plan.root)
			}
		}
		return fmt.Errorf("%w: FEC %s (%s): %v: %s", ErrRemote, fec, plan.host, err, msg)
	}
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	var stats copyStats
	snap, err := st.WriteSnapshot(ctx, fec, ds.Name, plan.format, o.Keep, func(w io.Writer) error {
		cw := &quotaWriter{w: w, left: *quota, fec: fec}
		var cerr error
		stats, cerr = copyChecked(stdout, cw, plan.format, plan.verbatim, ds.Dirs)
		if cerr != nil {
			if stats.streamEnded {
				// The remote side's failure explains a truncated stream.
				if werr := wait(); werr != nil {
					return werr
				}
			} else {
				// We stopped reading (unsafe entry, quota, disk full): the
				// FEC's tar would block on a full pipe.
				_ = cmd.Process.Kill()
				_ = wait()
			}
			return fmt.Errorf("FEC %s, data set %s: %w", fec, ds.Name, cerr)
		}
		if err := wait(); err != nil {
			return err
		}
		*quota = cw.left
		if stats.tarBytes == 0 || (stats.files == 0 && stats.links == 0) {
			if !o.AllowEmpty {
				return fmt.Errorf("%w: %s (%s): no file in %s; the previous snapshot stays current (use -allow-empty to store an empty one)",
					ErrEmpty, fec, ds.Name, strings.Join(ds.Dirs, " "))
			}
		}
		return nil
	})
	sr.TarBytes, sr.Files, sr.Warnings = stats.tarBytes, stats.files, stats.warnings
	if err != nil {
		sr.Err = err
		return
	}
	sr.Status, sr.Generation, sr.Path, sr.Bytes = StatusPersisted, snap.Generation, snap.Path, snap.Size
	return
}

// quotaWriter fails a write that would take more than left bytes.
type quotaWriter struct {
	w    io.Writer
	left int64
	fec  string
}

func (q *quotaWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > q.left {
		return 0, fmt.Errorf("%w: FEC %s: its snapshots need more than the quota (persist_quota= in fec.conf, or -quota)", ErrQuota, q.fec)
	}
	n, err := q.w.Write(p)
	q.left -= int64(n)
	return n, err
}

type copyStats struct {
	streamEnded  bool // the stream from the FEC ended (EOF or a read error)
	tarBytes     int64
	files, links int
	warnings     []string
}

// countReader counts the bytes read through it.
type countReader struct {
	r     io.Reader
	n     int64
	ended bool
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil {
		c.ended = true
	}
	return n, err
}

// copyChecked reads the archive from the FEC and checks every entry (a
// name inside one of dirs, only directories, regular files and symlinks,
// which are stored as links and never followed) while it goes to w. With
// verbatim, the stream is a gzip-compressed tar made by the FEC (`tar -czf`)
// and is stored byte for byte, the check running on a decompressed copy;
// otherwise it is a plain tar, re-encoded and compressed in format here. A
// stream that ends early is an error; an empty stream (no declared
// directory exists) gives zero stats.
func copyChecked(r io.Reader, w io.Writer, format index.Format, verbatim bool, dirs []string) (stats copyStats, err error) {
	cr := &countReader{r: r}
	defer func() { stats.streamEnded = cr.ended }()
	rels := make([]string, len(dirs))
	for i, d := range dirs {
		rels[i] = strings.TrimPrefix(d, "/")
	}
	var src io.Reader = cr
	var comp io.WriteCloser
	var tw *tar.Writer
	var raw io.Reader // verbatim: the compressed stream, drained at the end
	if verbatim {
		raw = io.TeeReader(cr, w)
		br := bufio.NewReaderSize(raw, 64<<10)
		if _, perr := br.Peek(1); perr == io.EOF {
			// Nothing to archive: an empty archive, stored only with AllowEmpty.
			gw := pgzip.NewWriter(w)
			if err := tar.NewWriter(gw).Close(); err != nil {
				return stats, err
			}
			return stats, gw.Close()
		}
		gz, gerr := gzip.NewReader(br)
		if gerr != nil {
			return stats, fmt.Errorf("the archive from the FEC is not gzip-compressed tar: %w", gerr)
		}
		defer gz.Close()
		src = gz
	} else {
		switch format {
		case index.FormatZstd:
			comp, err = zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
		case index.FormatGzip:
			comp, err = pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
		default:
			err = fmt.Errorf("%w: %q", index.ErrUnknownFormat, format)
		}
		if err != nil {
			return stats, err
		}
		defer func() {
			if err != nil {
				comp.Close()
			}
		}()
		tw = tar.NewWriter(comp)
	}
	tc := &countReader{r: src}
	tr := tar.NewReader(tc)
	for {
		hdr, err := tr.Next()
		stats.tarBytes = tc.n
		if err == io.EOF {
			break
		}
		if err != nil {
			return stats, fmt.Errorf("the archive from the FEC is truncated or corrupt after %d bytes: %w", cr.n, err)
		}
		out, err := checkEntry(hdr, rels, dirs, &stats)
		if err != nil {
			return stats, err
		}
		if tw != nil {
			if err := tw.WriteHeader(out); err != nil {
				return stats, err
			}
		}
		if out.Typeflag == tar.TypeReg {
			dst := io.Discard
			if tw != nil {
				dst = tw
			}
			if _, err := io.Copy(dst, tr); err != nil {
				stats.tarBytes = tc.n
				return stats, fmt.Errorf("the archive from the FEC is truncated after %d bytes (in /%s): %w", cr.n, out.Name, err)
			}
		}
	}
	// The rest (tar pads to a record; the gzip trailer) must be read so
	// that the FEC's tar exits normally, and, verbatim, stored.
	if _, err := io.Copy(io.Discard, tc); err != nil {
		return stats, fmt.Errorf("the archive from the FEC is truncated or corrupt after %d bytes: %w", cr.n, err)
	}
	if raw != nil {
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return stats, err
		}
	}
	stats.tarBytes = tc.n
	if tw != nil {
		if err := tw.Close(); err != nil {
			return stats, err
		}
		if err := comp.Close(); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// checkEntry checks one entry from the FEC and returns the header to
// store: name cleaned, only the fields a FEC restores.
func checkEntry(hdr *tar.Header, rels, dirs []string, stats *copyStats) (*tar.Header, error) {
	name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("%w: entry %q is not a relative path inside the data set", ErrUnsafe, hdr.Name)
	}
	inside := false
	for _, d := range rels {
		if name == d || strings.HasPrefix(name, d+"/") {
			inside = true
		}
	}
	if !inside {
		return nil, fmt.Errorf("%w: entry %s is outside the declared directories (%s)", ErrUnsafe, name, strings.Join(dirs, " "))
	}
	out := &tar.Header{Name: name, Mode: hdr.Mode & 0o7777, ModTime: hdr.ModTime, Uid: hdr.Uid, Gid: hdr.Gid}
	switch hdr.Typeflag {
	case tar.TypeDir:
		out.Typeflag, out.Name = tar.TypeDir, name+"/"
	case tar.TypeReg, tar.TypeRegA:
		out.Typeflag, out.Size = tar.TypeReg, hdr.Size
		stats.files++
	case tar.TypeSymlink:
		out.Typeflag, out.Linkname = tar.TypeSymlink, hdr.Linkname
		stats.links++
		if t := hdr.Linkname; path.IsAbs(t) || !linkStaysIn(name, t, rels) {
			stats.warnings = append(stats.warnings, fmt.Sprintf("symlink /%s -> %s leaves the data set: stored as a link, but a FEC refuses to restore the snapshot if it leaves the allowed roots", name, t))
		}
	case tar.TypeLink:
		return nil, fmt.Errorf("%w: /%s is a hard link to /%s (snapshots hold no hard links; make it a copy or a symlink)", ErrUnsafe, name, hdr.Linkname)
	default:
		return nil, fmt.Errorf("%w: /%s is a %s (snapshots hold only directories, files and symlinks)", ErrUnsafe, name, typeName(hdr.Typeflag))
	}
	return out, nil
}

// linkStaysIn reports whether a relative symlink at name with target t
// resolves (lexically) inside one of dirs.
func linkStaysIn(name, t string, dirs []string) bool {
	p := path.Join(path.Dir(name), t)
	if !filepath.IsLocal(p) {
		return false
	}
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "named pipe"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}
