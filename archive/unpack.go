package archive

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fair-acc/fecdeploy/index"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/mikelolasagasti/xz"
	"golang.org/x/sys/unix"
)

// Defaults of UnpackOptions.
const (
	DefaultMaxBytes   int64 = 8 << 30
	DefaultMaxEntries       = 200_000
)

// MaxDepth is the most path components an entry name may have (opt/a/b is
// 3). Real install trees are far below it; a deeper archive is refused
// before anything is created. fec-boot.sh has the same limit.
const MaxDepth = 256

// MaxName and MaxNameComponent bound entry names (bytes), the limits of
// Linux (PATH_MAX without its NUL, NAME_MAX). The extraction works
// relative to the staging directory, so an acceptable name is always a
// path the kernel takes. fec-boot.sh has the same limits.
const (
	MaxName          = 4095
	MaxNameComponent = 255
)

// StagingPrefix starts the name of the staging directories Stage creates
// inside each allowed root: .fecdeploy-staging-<pid>-<random>, where pid is
// the process that stages (both boot clients name them so).
// RemoveLeftovers removes those of processes that no longer run.
const StagingPrefix = ".fecdeploy-staging-"

const (
	maxTrailer    = 1 << 20   // zero padding accepted after the tar end marker
	maxRawTail    = 1 << 20   // compressed bytes drained after the compressed stream
	maxZstdWindow = 128 << 20 // refuse zstd frames needing more memory than zstd --long=27
)

// UnpackOptions configures Stage and Unpack.
type UnpackOptions struct {
	// AllowedRoots are directories relative to root, e.g. {"opt"}; every
	// entry must lie below one of them. Directory entries for their
	// ancestors ("opt/" for "opt/fesa") are accepted and ignored. Default
	// {"opt"}.
	AllowedRoots []string
	MaxBytes     int64        // total file bytes after decompression; default 8 GiB
	MaxEntries   int          // default 200,000
	Format       index.Format // "" = detect from magic bytes
	// DecoderConcurrency is the number of goroutines of the zstd decoder;
	// 0 means GOMAXPROCS. 1 decodes on the reading goroutine, directly
	// into the decoder's history: no copy of every block and no buffer per
	// frame. That is cheaper when several archives are unpacked at once
	// (fec-boot --parallel), where the archives give the parallelism
	// (docs/benchmarks.md, "Boot speed against the C tools").
	DecoderConcurrency int
}

// Result counts what an archive contained (below the allowed roots).
type Result struct {
	Files, Dirs, Symlinks int
	Bytes                 int64 // file content bytes
}

// Staged is an extracted archive waiting in staging directories next to its
// destination. Call Commit or Discard exactly once.
type Staged struct {
	rootPath string
	root     *os.Root
	areas    []*area
	dirs     []*stagedDir // parents before children
	items    []stagedItem // files and symlinks
	res      Result
	finished bool
	explicit []string  // entries below the allowed roots, as named in the archive (cleaned)
	newest   time.Time // the latest modification time of a regular file in the archive

	// The destination directory opened last (through root, so that it
	// lies inside it), for the *at calls of the commit.
	destName string
	destDir  *os.File
}

// Tops returns the entries of the archive (below the allowed roots) whose
// parent directory is not an entry of it: what the archive covers, e.g.
// {"opt/fesa/data/Foo_DU"} for a persistent-data snapshot of that folder.
func (s *Staged) Tops() []string {
	have := make(map[string]bool, len(s.explicit))
	for _, n := range s.explicit {
		have[n] = true
	}
	var out []string
	for _, n := range s.explicit {
		if !have[path.Dir(n)] {
			out = append(out, n)
		}
	}
	return out
}

// NewestModTime is the latest modification time of a regular file in the
// archive (the zero time when it has none).
func (s *Staged) NewestModTime() time.Time { return s.newest }

// area is the staging directory of one allowed root. Everything in it is
// created and moved with *at system calls relative to open directories, so
// paths are only as long as the archive's own names (never the FEC root
// prefix in front of them) and no path is resolved twice.
type area struct {
	allowed string   // e.g. "opt/fesa"
	created []string // allowed-root directories Stage created, parents first
	stName  string   // the staging directory's name inside the allowed root
	stPath  string   // staging dir as an OS path (messages only)
	dir     *os.File // the allowed root
	st      *os.File // the staging directory
	// The directory files were last created in: archives are sorted, so
	// keeping it open saves resolving the path per file.
	lastDir string
	lastFd  int
}

func (ar *area) stFd() int { return int(ar.st.Fd()) }

// parentFd returns an open directory for the parent of rel (relative to
// the staging directory), reusing the last one.
func (ar *area) parentFd(rel string) (int, error) {
	d := path.Dir(rel)
	if d == "." {
		return ar.stFd(), nil
	}
	if ar.lastFd >= 0 && ar.lastDir == d {
		return ar.lastFd, nil
	}
	ar.closeDir()
	fd, err := unix.Openat(ar.stFd(), d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "openat", Path: d, Err: err}
	}
	ar.lastDir, ar.lastFd = d, fd
	return fd, nil
}

func (ar *area) closeDir() {
	if ar.lastFd >= 0 {
		unix.Close(ar.lastFd)
		ar.lastFd = -1
	}
}

type stagedDir struct {
	name string      // cleaned, relative to root
	mode fs.FileMode // final mode
	made fs.FileMode // mode it has in staging now (0: unknown)
	a    *area
	rel  string // relative to the staging directory
}

type stagedItem struct {
	name string // cleaned, relative to root
	a    *area
	rel  string // relative to the area's allowed root
}

type kind uint8

const (
	kAncestor    kind = iota + 1 // a directory entry at or above an allowed root
	kImplicitDir                 // created as the parent of an entry
	kDir
	kFile
	kLink
)

// clampMode is the mode an entry is installed with: the archive's
// permission bits without group or other write, setuid, setgid and sticky
// (fec-boot.sh clamps the same way).
func clampMode(m int64) fs.FileMode { return fs.FileMode(m) & 0o755 }

// readUmask is the process's file mode creation mask (from
// /proc/self/status), -1 when unknown. Files and directories are created
// with their final mode, and need a chmod only when the umask takes bits
// away. Read once per Stage.
func readUmask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if u, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return int(u)
			}
		}
	}
	return -1
}

// made is the mode a file or directory created with mode m has (0 when the
// umask is unknown).
func (x *extractor) made(m fs.FileMode) fs.FileMode {
	if x.umask < 0 {
		return 0
	}
	return m &^ fs.FileMode(x.umask)
}

// Stage extracts r into a staging directory next to the destination (same
// filesystem), applying every safety rule. It reads r to EOF, so a
// verify.Reader's size/sha256 error fails the stage. Nothing under root
// changes until Commit. On error the staging directory is already removed.
func Stage(ctx context.Context, r io.Reader, root string, opts UnpackOptions) (*Staged, error) {
	allowed, err := normalizeRoots(opts.AllowedRoots)
	if err != nil {
		return nil, err
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Format != "" && !opts.Format.Valid() {
		return nil, fmt.Errorf("%w: %q (use zstd, gzip or xz)", index.ErrUnknownFormat, opts.Format)
	}
	rootPath, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("archive: destination root: %w", err)
	}
	rt, err := os.OpenRoot(rootPath)
	if err != nil {
		return nil, fmt.Errorf("archive: destination root: %w", err)
	}
	s := &Staged{rootPath: rootPath, root: rt}
	src := &srcReader{ctx: ctx, r: r}
	x := &extractor{s: s, ctx: ctx, opts: opts, allowed: allowed, seen: map[string]kind{},
		links: map[string]string{}, dirIdx: map[string]*stagedDir{}, buf: make([]byte, 1<<20), umask: readUmask()}
	if err := x.run(src); err != nil {
		s.discard()
		// The caller's reader failing (a verify.Reader's size or hash
		// check, a network error) and cancellation explain the other
		// errors they cause.
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("archive: stage cancelled: %w", cerr)
		}
		if serr := src.failure(); serr != nil {
			return nil, fmt.Errorf("archive: reading the archive: %w", serr)
		}
		return nil, err
	}
	for _, ar := range s.areas {
		ar.closeDir()
	}
	return s, nil
}

// Unpack is Stage followed by Commit.
func Unpack(ctx context.Context, r io.Reader, root string, opts UnpackOptions) (Result, error) {
	s, err := Stage(ctx, r, root, opts)
	if err != nil {
		return Result{}, err
	}
	return s.Commit()
}

func normalizeRoots(in []string) ([]string, error) {
	if len(in) == 0 {
		in = []string{"opt"}
	}
	var out []string
	for _, a := range in {
		c := path.Clean(strings.TrimSuffix(a, "/"))
		if a == "" || strings.HasPrefix(a, "/") || !filepath.IsLocal(c) || c == "." {
			return nil, fmt.Errorf("archive: allowed root %q must be a relative directory below the FEC root, e.g. \"opt\"", a)
		}
		out = append(out, c)
	}
	sort.Strings(out)
	// Drop roots below other roots: each entry then has one area.
	var res []string
	for _, a := range out {
		if len(res) > 0 && within(a, res[len(res)-1]) {
			continue
		}
		res = append(res, a)
	}
	return res, nil
}

// srcReader passes the caller's reader through, remembers its first error
// and stops on cancellation.
type srcReader struct {
	ctx context.Context
	r   io.Reader
	mu  sync.Mutex // decompressors may read from their own goroutine
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *srcReader) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// eofTracker notes a read that returned no data and io.EOF: the tar reader
// treats such an end at a header boundary as a clean end, but a complete
// archive ends with its two zero blocks before the data runs out.
//
// It also caps the whole decompressed stream: data the tar reader skips
// (bodies of non-file entries, PAX headers) is never written, but a small
// archive could still make us decompress terabytes of it.
type eofTracker struct {
	r       io.Reader
	bareEOF bool
	n, max  int64
	over    bool
}

func (e *eofTracker) Read(p []byte) (int, error) {
	if e.over {
		return 0, errStreamCap
	}
	n, err := e.r.Read(p)
	if n == 0 && err == io.EOF {
		e.bareEOF = true
	}
	e.n += int64(n)
	if e.n > e.max {
		e.over = true
		return 0, errStreamCap
	}
	return n, err
}

var errStreamCap = errors.New("decompressed stream exceeds its limit")

// streamCap is the decompressed size an archive within the limits can
// reach: file content plus generous room for headers and padding.
func streamCap(o UnpackOptions) int64 {
	return o.MaxBytes + int64(o.MaxEntries)*16<<10 + maxTrailer + 1<<20
}

func openDecompressor(f index.Format, r io.Reader) (io.ReadCloser, error) {
	return openDecompressorN(f, r, 0)
}

// openDecompressorN is openDecompressor with the zstd decoder's
// concurrency (0: GOMAXPROCS).
func openDecompressorN(f index.Format, r io.Reader, zstdConcurrency int) (io.ReadCloser, error) {
	if zstdConcurrency <= 0 {
		zstdConcurrency = runtime.GOMAXPROCS(0)
	}
	switch f {
	case index.FormatZstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(zstdConcurrency), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case index.FormatGzip:
		return pgzip.NewReader(r)
	case index.FormatXz:
		x, err := xz.NewReader(r, 0)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(x), nil
	}
	return nil, fmt.Errorf("%w: %q", index.ErrUnknownFormat, f)
}

type extractor struct {
	s       *Staged
	ctx     context.Context
	opts    UnpackOptions
	allowed []string
	areas   map[string]*area
	seen    map[string]kind
	links   map[string]string // symlink entries: name -> target
	dirIdx  map[string]*stagedDir
	order   []string // symlink names in archive order
	entries int
	bytes   int64
	buf     []byte
	format  index.Format
	dr      *eofTracker
	lay     *layout
	umask   int
	// The parent directory (relative to its area) of the last entry: it
	// and its ancestors are known to be directories in staging.
	lastArea   *area
	lastRelDir string
}

func (x *extractor) corrupt(err error) error {
	if x.lay != nil && x.lay.err != nil {
		return x.lay.err
	}
	if errors.Is(err, errStreamCap) || x.dr != nil && x.dr.over {
		return fmt.Errorf("%w: the decompressed stream exceeds %d bytes (MaxBytes plus room for headers); raise MaxBytes if the archive is right", ErrTooLarge, streamCap(x.opts))
	}
	return fmt.Errorf("%w: %s stream: %v (truncated or damaged download? fetch it again)", ErrCorrupt, x.format, err)
}

func (x *extractor) run(src *srcReader) error {
	f, rd, err := index.Detect(src)
	if err != nil {
		return err
	}
	if x.opts.Format != "" && f != x.opts.Format {
		return fmt.Errorf("%w: the stream is %s but %s was expected", index.ErrUnknownFormat, f, x.opts.Format)
	}
	x.format = f
	dec, err := openDecompressorN(f, rd, x.opts.DecoderConcurrency)
	if err != nil {
		return x.corrupt(err)
	}
	defer dec.Close()
	x.lay = &layout{r: dec}
	dr := &eofTracker{r: x.lay, max: streamCap(x.opts)}
	x.dr = dr
	tr := tar.NewReader(dr)
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if dr.bareEOF {
				return x.corrupt(errors.New("the tar stream ends without its end-of-archive marker"))
			}
			break
		}
		if err != nil {
			return x.corrupt(err)
		}
		x.entries++
		if x.entries > x.opts.MaxEntries {
			return fmt.Errorf("%w: more than %d entries (at %q); raise MaxEntries if the archive is right", ErrTooManyEntries, x.opts.MaxEntries, hdr.Name)
		}
		if err := x.entry(tr, hdr); err != nil {
			return err
		}
	}
	if err := x.drain(dr, src); err != nil {
		return err
	}
	return x.checkLinks()
}

// drain reads what follows the tar end marker: zero padding up to a bound in
// the decompressed stream, then the compressed stream to its EOF, so that a
// verifying reader below sees the whole download.
func (x *extractor) drain(dr io.Reader, src io.Reader) error {
	var total int64
	for {
		n, err := dr.Read(x.buf)
		for _, b := range x.buf[:n] {
			if b != 0 {
				return x.corrupt(errors.New("data after the tar end-of-archive marker"))
			}
		}
		total += int64(n)
		if total > maxTrailer {
			return x.corrupt(fmt.Errorf("more than %d bytes of padding after the tar end", maxTrailer))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.corrupt(err)
		}
	}
	n, err := io.Copy(io.Discard, io.LimitReader(src, maxRawTail+1))
	if err != nil {
		return x.corrupt(err)
	}
	if n > maxRawTail {
		return x.corrupt(fmt.Errorf("more than %d bytes after the end of the compressed stream", maxRawTail))
	}
	return nil
}

// commonDir is the length of the longest common leading run of whole
// components of the slash-separated paths p and q.
func commonDir(p, q string) int {
	n := 0
	for i := 0; i <= len(p) && i <= len(q); i++ {
		endP, endQ := i == len(p) || p[i] == '/', i == len(q) || q[i] == '/'
		if endP && endQ {
			n = i
		}
		if i == len(p) || i == len(q) || p[i] != q[i] {
			break
		}
	}
	return n
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	name := hdr.Name
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
	case tar.TypeLink:
		return unsafeEntry(name, "hardlink to %q; hardlinks are refused (pack a copy or a symlink instead)", hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return unsafeEntry(name, "device node; only regular files, directories and symlinks are allowed")
	case tar.TypeFifo:
		return unsafeEntry(name, "FIFO; only regular files, directories and symlinks are allowed")
	case tar.TypeGNUSparse:
		return unsafeEntry(name, "a sparse file; sparse files are refused (pack a plain copy)")
	default:
		return unsafeEntry(name, "unsupported entry type %q; only regular files, directories and symlinks are allowed", hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		// The layout walk refuses these already; this is the reader's view.
		if k != "path" && k != "linkpath" {
			return unsafeEntry(name, "PAX record %q, which busybox tar ignores; the writer never makes it", k)
		}
	}
	if name == "" {
		return unsafeEntry(name, "empty name")
	}
	if strings.Contains(name, "\n") {
		return unsafeEntry(name, "name contains a newline (busybox tar lists one name a line: the shell client cannot check it)")
	}
	if strings.Contains(hdr.Linkname, "\n") {
		return unsafeEntry(name, "symlink target contains a newline (busybox tar lists one name a line: the shell client cannot check it)")
	}
	if hdr.Typeflag != tar.TypeSymlink && hdr.Linkname != "" {
		return unsafeEntry(name, "a non-symlink entry with a link target %q (busybox tar would make a hardlink of it)", hdr.Linkname)
	}
	if len(hdr.Linkname) > MaxName {
		return unsafeEntry(name, "a symlink target of %d bytes; at most %d are allowed", len(hdr.Linkname), MaxName)
	}
	if hdr.Typeflag != tar.TypeReg && hdr.Size != 0 {
		return unsafeEntry(name, "a %s entry carrying %d bytes of data", map[byte]string{tar.TypeDir: "directory", tar.TypeSymlink: "symlink"}[hdr.Typeflag], hdr.Size)
	}
	if strings.HasPrefix(name, "/") {
		return unsafeEntry(name, "absolute name; entries must be relative to / (e.g. opt/fesa/...): repack with fec-pack")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return unsafeEntry(name, "name contains \"..\"")
		}
		if len(c) > MaxNameComponent {
			return unsafeEntry(name, "a name component of %d bytes; at most %d are allowed", len(c), MaxNameComponent)
		}
	}
	if len(name) > MaxName {
		return unsafeEntry(name, "a name of %d bytes; at most %d are allowed", len(name), MaxName)
	}
	if hdr.Typeflag != tar.TypeDir && strings.HasSuffix(name, "/") {
		return unsafeEntry(name, "non-directory entry with a trailing slash")
	}
	clean := path.Clean(name)
	if clean != "." && !filepath.IsLocal(clean) {
		return unsafeEntry(name, "not a local path")
	}
	if d := strings.Count(clean, "/") + 1; d > MaxDepth {
		return unsafeEntry(name, "%d path components deep; at most %d are allowed", d, MaxDepth)
	}
	if prev, dup := x.seen[clean]; dup {
		if !(prev == kImplicitDir && hdr.Typeflag == tar.TypeDir) {
			return unsafeEntry(name, "appears twice in the archive (as %q after cleaning)", clean)
		}
	}

	// Directories at or above an allowed root ("opt/" for "opt") are no-ops.
	for _, a := range x.allowed {
		if clean == "." || within(a, clean) {
			if hdr.Typeflag != tar.TypeDir {
				return unsafeEntry(name, "is not a directory, but %q is an allowed root (or its parent)", clean)
			}
			x.seen[clean] = kAncestor
			return nil
		}
	}
	a := ""
	for _, r := range x.allowed {
		if within(clean, r) {
			a = r
			break
		}
	}
	if a == "" {
		return unsafeEntry(name, "lies outside the allowed roots %v; this FEC installs only below those (check the pack prefix or the FEC's allowed roots)", x.allowed)
	}
	ar, err := x.area(a)
	if err != nil {
		return err
	}
	rel := clean[len(a)+1:]

	x.s.explicit = append(x.s.explicit, clean)
	if hdr.Typeflag == tar.TypeReg && hdr.ModTime.After(x.s.newest) {
		x.s.newest = hdr.ModTime
	}
	// Parents: never through an earlier symlink or file; create missing
	// ones in staging. The last entry's parent and its ancestors are known
	// to be directories: in a sorted archive each directory is checked
	// and created once, whatever the depth.
	if relDir := path.Dir(rel); relDir != "." && (ar != x.lastArea || relDir != x.lastRelDir) {
		from := 0
		if ar == x.lastArea {
			from = commonDir(relDir, x.lastRelDir)
		}
		for i := from + 1; i <= len(relDir); i++ {
			if i < len(relDir) && relDir[i] != '/' {
				continue
			}
			sub := relDir[:i]
			anc := a + "/" + sub
			switch x.seen[anc] {
			case kFile, kLink:
				return unsafeEntry(name, "would be written through the earlier non-directory entry %q", anc)
			case 0:
				if err := unix.Mkdirat(ar.stFd(), sub, 0o755); err != nil {
					return fmt.Errorf("archive: staging %s: %w", anc, &os.PathError{Op: "mkdirat", Path: sub, Err: err})
				}
				x.seen[anc] = kImplicitDir
				d := &stagedDir{name: anc, mode: 0o755, made: x.made(0o755), a: ar, rel: sub}
				x.dirIdx[anc] = d
				x.s.dirs = append(x.s.dirs, d)
			}
		}
		x.lastArea, x.lastRelDir = ar, relDir
	}
	if prev := x.seen[clean]; prev == kImplicitDir {
		// An explicit entry for a directory created for earlier entries.
		x.dirIdx[clean].mode = clampMode(hdr.Mode)
		x.seen[clean] = kDir
		x.s.res.Dirs++
		return nil
	}

	mode := clampMode(hdr.Mode)
	switch hdr.Typeflag {
	case tar.TypeDir:
		// Owner rwx while staging, so that entries can go in; the final
		// mode is set at commit when it differs.
		if err := unix.Mkdirat(ar.stFd(), rel, uint32(mode|0o700)); err != nil {
			return fmt.Errorf("archive: staging %s: %w", clean, &os.PathError{Op: "mkdirat", Path: rel, Err: err})
		}
		x.seen[clean] = kDir
		d := &stagedDir{name: clean, mode: mode, made: x.made(mode | 0o700), a: ar, rel: rel}
		x.dirIdx[clean] = d
		x.s.dirs = append(x.s.dirs, d)
		x.s.res.Dirs++
	case tar.TypeSymlink:
		t := hdr.Linkname
		if t == "" {
			return unsafeEntry(name, "symlink with an empty target")
		}
		if strings.HasPrefix(t, "/") {
			return unsafeEntry(name, "symlink to the absolute path %q; use a relative target inside %s", t, a)
		}
		pfd, err := ar.parentFd(rel)
		if err != nil {
			return fmt.Errorf("archive: staging %s: %w", clean, err)
		}
		if err := unix.Symlinkat(t, pfd, path.Base(rel)); err != nil {
			return fmt.Errorf("archive: staging %s: %w", clean, &os.PathError{Op: "symlinkat", Path: rel, Err: err})
		}
		x.seen[clean] = kLink
		x.links[clean] = t
		x.order = append(x.order, clean)
		x.s.items = append(x.s.items, stagedItem{name: clean, a: ar, rel: rel})
		x.s.res.Symlinks++
	case tar.TypeReg:
		if err := x.file(tr, hdr, ar, clean, rel, mode); err != nil {
			return err
		}
		x.seen[clean] = kFile
		x.s.items = append(x.s.items, stagedItem{name: clean, a: ar, rel: rel})
		x.s.res.Files++
	}
	return nil
}

func (x *extractor) tooLarge(name string) error {
	return fmt.Errorf("%w: more than %d bytes of file content (at %q); raise MaxBytes if the archive is right", ErrTooLarge, x.opts.MaxBytes, name)
}

func (x *extractor) file(tr *tar.Reader, hdr *tar.Header, ar *area, clean, rel string, mode fs.FileMode) error {
	if hdr.Size < 0 || hdr.Size > x.opts.MaxBytes-x.bytes {
		return x.tooLarge(hdr.Name)
	}
	pfd, err := ar.parentFd(rel)
	if err != nil {
		return fmt.Errorf("archive: staging %s: %w", clean, err)
	}
	// Created with its final mode (the staging directory is private): a
	// chmod only when the umask takes bits away. Raw system calls: an
	// os.File would add fcntl calls per file.
	fd, err := unix.Openat(pfd, path.Base(rel), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode))
	if err != nil {
		return fmt.Errorf("archive: staging %s: %w", clean, &os.PathError{Op: "openat", Path: rel, Err: err})
	}
	closed := false
	defer func() {
		if !closed {
			unix.Close(fd)
		}
	}()
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n, rerr := tr.Read(x.buf)
		if n > 0 {
			// Count what is actually written, not what the header says.
			x.bytes += int64(n)
			if x.bytes > x.opts.MaxBytes {
				return x.tooLarge(hdr.Name)
			}
			if err := writeAll(fd, x.buf[:n]); err != nil {
				return fmt.Errorf("archive: staging %s: %w", clean, &os.PathError{Op: "write", Path: rel, Err: err})
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return x.corrupt(fmt.Errorf("entry %q: %w", hdr.Name, rerr))
		}
	}
	x.s.res.Bytes = x.bytes
	if x.made(mode) != mode {
		if err := unix.Fchmod(fd, uint32(mode)); err != nil {
			return fmt.Errorf("archive: staging %s: %w", clean, &os.PathError{Op: "fchmod", Path: rel, Err: err})
		}
	}
	closed = true
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("archive: staging %s: %w", clean, &os.PathError{Op: "close", Path: rel, Err: err})
	}
	return nil
}

// writeAll writes b to fd, retrying short writes and EINTR.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// area returns the staging area of an allowed root, creating the allowed
// root (if missing) and a fresh staging directory inside it.
func (x *extractor) area(a string) (*area, error) {
	if ar := x.areas[a]; ar != nil {
		return ar, nil
	}
	if x.areas == nil {
		x.areas = map[string]*area{}
	}
	ar := &area{allowed: a, lastFd: -1}
	x.s.areas = append(x.s.areas, ar) // so that discard cleans up partial work
	x.areas[a] = ar
	comps := strings.Split(a, "/")
	for i := 1; i <= len(comps); i++ {
		d := strings.Join(comps[:i], "/")
		err := x.s.root.Mkdir(d, 0o755)
		if err == nil {
			ar.created = append(ar.created, d)
			continue
		}
		fi, serr := x.s.root.Stat(d)
		if serr != nil || !fi.IsDir() {
			return nil, fmt.Errorf("archive: allowed root %s: cannot use %s as a directory: %w", a, d, err)
		}
	}
	dir, err := x.s.root.Open(a)
	if err != nil {
		return nil, fmt.Errorf("archive: allowed root %s: %w", a, err)
	}
	ar.dir = dir
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	name := StagingPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:])
	if err := unix.Mkdirat(int(dir.Fd()), name, 0o700); err != nil {
		return nil, fmt.Errorf("archive: creating the staging directory in %s: %w", a, err)
	}
	ar.stName = name
	ar.stPath = filepath.Join(x.s.rootPath, filepath.FromSlash(a), name)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("archive: opening the staging directory: %w", err)
	}
	ar.st = os.NewFile(uintptr(fd), ar.stPath)
	return ar, nil
}

// checkLinks resolves every symlink entry against the archive (whatever the
// entry order) and the destination, and refuses those leaving their
// allowed root.
func (x *extractor) checkLinks() error {
	lookup := func(p string) (string, bool, error) {
		if k, ok := x.seen[p]; ok {
			if k == kLink {
				return x.links[p], true, nil
			}
			return "", false, nil
		}
		fi, err := x.s.root.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return "", false, nil
		}
		t, err := x.s.readlink(p)
		if err != nil {
			return "", false, fmt.Errorf("archive: reading the symlink %s: %w", p, err)
		}
		return t, true, nil
	}
	for _, name := range x.order {
		var a string
		for _, r := range x.allowed {
			if within(name, r) {
				a = r
			}
		}
		err := resolveInside(splitPath(a), splitPath(path.Dir(name)), x.links[name], lookup)
		switch {
		case err == nil:
		case errors.Is(err, errLinkEscapes), errors.Is(err, errLinkAbs):
			return unsafeEntry(name, "symlink to %q resolves outside %s; use a relative target inside it", x.links[name], a)
		case errors.Is(err, errLinkLoop):
			return unsafeEntry(name, "symlink to %q: %v", x.links[name], err)
		default:
			return err
		}
	}
	return nil
}
