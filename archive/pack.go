package archive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	uxz "github.com/ulikunitz/xz"
)

// PackOptions configures Pack.
type PackOptions struct {
	Format index.Format // default Zstd
	// Level is the compression level in the terms of the format's command
	// line tool (zstd 1..19, gzip 1..9); 0 = the format's default (zstd -3,
	// gzip -6). Xz ignores it.
	Level int
	// Prefix is prepended to every entry, e.g. "opt/fesa/Foo_DU/1.2.0": the
	// file srcDir/bin/foo becomes opt/fesa/Foo_DU/1.2.0/bin/foo. It must be a
	// local slash-separated path (filepath.IsLocal); "" packs srcDir as the
	// root itself. Directory entries are written for every directory of the
	// prefix, so minimal tars (busybox) create them.
	Prefix string
	// ModTime is the modification time of every entry. Zero means
	// $SOURCE_DATE_EPOCH (seconds), else the Unix epoch.
	ModTime time.Time
	// Progress, if set, is called with the number of input file bytes
	// packed so far.
	Progress func(done int64)
}

// PackStats describes a packed archive.
type PackStats struct {
	Files, Dirs, Symlinks int
	InputBytes            int64  // file content bytes before compression
	Size                  int64  // compressed bytes written to w
	SHA256                string // hex sha256 of the bytes written to w
}

// Pack writes srcDir as a compressed tar archive to w. The output is
// reproducible: entries in lexical path order, uid/gid 0 without names, one
// modification time, no access/change times, permission bits without
// setuid/setgid/sticky. Only regular files, directories and symlinks whose
// target resolves inside srcDir are packed; anything else is refused with an
// *EntryError. Files are streamed, never held in memory.
func Pack(ctx context.Context, w io.Writer, srcDir string, opts PackOptions) (PackStats, error) {
	var st PackStats
	if opts.Format == "" {
		opts.Format = index.FormatZstd
	}
	if !opts.Format.Valid() {
		return st, fmt.Errorf("%w: %q (use zstd, gzip or xz)", index.ErrUnknownFormat, opts.Format)
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if strings.HasPrefix(opts.Prefix, "/") || (prefix != "" && !filepath.IsLocal(prefix)) || strings.Contains(prefix, "\\") {
		return st, fmt.Errorf("archive: pack prefix %q must be a relative path without \"..\" (e.g. opt/fesa/Foo_DU/1.2.0)", opts.Prefix)
	}
	prefix = path.Clean(prefix)
	if prefix == "." {
		prefix = ""
	}
	mtime, err := packModTime(opts.ModTime)
	if err != nil {
		return st, err
	}
	src, err := filepath.EvalSymlinks(srcDir)
	if err != nil {
		return st, fmt.Errorf("archive: pack source: %w", err)
	}
	if fi, err := os.Stat(src); err != nil {
		return st, fmt.Errorf("archive: pack source: %w", err)
	} else if !fi.IsDir() {
		return st, fmt.Errorf("archive: pack source %s is not a directory", srcDir)
	}

	out := &hashCounter{w: w, h: sha256.New()}
	cw, err := newCompressor(out, opts.Format, opts.Level)
	if err != nil {
		return st, err
	}
	tw := tar.NewWriter(cw)
	p := &packer{ctx: ctx, tw: tw, src: src, prefix: prefix, mtime: mtime, progress: opts.Progress, st: &st,
		buf: make([]byte, 1<<20)}
	if z, ok := cw.(*parallelZstd); ok {
		// File data is read straight into the zstd chunk: the tar writer
		// passes a file's bytes through unchanged, so no copy is made.
		p.tail = z.tail
	}
	err = p.run()
	if err == nil {
		err = tw.Close()
	}
	if cerr := cw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("archive: compressing: %w", cerr)
	}
	if err != nil {
		return st, err
	}
	st.Size = out.n
	st.SHA256 = hex.EncodeToString(out.h.Sum(nil))
	return st, nil
}

func packModTime(t time.Time) (time.Time, error) {
	if !t.IsZero() {
		return t.Truncate(time.Second).UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("archive: SOURCE_DATE_EPOCH=%q is not a number of seconds: %w", s, err)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

// newCompressor returns a writer compressing into w.
func newCompressor(w io.Writer, f index.Format, level int) (io.WriteCloser, error) {
	switch f {
	case index.FormatZstd:
		l := zstd.SpeedDefault
		if level != 0 {
			l = zstd.EncoderLevelFromZstd(level)
		}
		return newParallelZstd(w, l)
	case index.FormatGzip:
		if level < 0 || level > 9 {
			return nil, fmt.Errorf("archive: gzip level %d out of range 1..9", level)
		}
		if level == 0 {
			level = pgzip.DefaultCompression
		}
		return pgzip.NewWriterLevel(w, level)
	case index.FormatXz:
		return uxz.NewWriter(w)
	}
	return nil, fmt.Errorf("%w: %q", index.ErrUnknownFormat, f)
}

type hashCounter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

type packer struct {
	ctx      context.Context
	tw       *tar.Writer
	src      string
	prefix   string
	mtime    time.Time
	progress func(int64)
	st       *PackStats
	done     int64
	buf      []byte
	tail     func() []byte // where to read file data into; nil: buf
}

func (p *packer) header(name string, typ byte, mode fs.FileMode) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     int64(mode.Perm()), // drops setuid, setgid, sticky
		ModTime:  p.mtime,
	}
}

func (p *packer) entryName(rel string) string {
	if rel == "." {
		return p.prefix
	}
	if p.prefix == "" {
		return rel
	}
	return p.prefix + "/" + rel
}

func (p *packer) run() error {
	// Directories of the prefix, so that minimal tars can create them.
	comps := splitPath(p.prefix)
	for i := 1; i < len(comps); i++ {
		if err := p.tw.WriteHeader(p.header(path.Join(comps[:i]...)+"/", tar.TypeDir, 0o755)); err != nil {
			return fmt.Errorf("archive: writing tar: %w", err)
		}
		p.st.Dirs++
	}
	return filepath.WalkDir(p.src, func(fpath string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("archive: pack: %w", err)
		}
		if err := p.ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(p.src, fpath)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		name := p.entryName(rel)
		if rel == "." && name == "" {
			return nil // srcDir is the root itself: no entry for "/"
		}
		// The type comes from the directory listing; a regular file is
		// stat'ed once, through its open descriptor (file).
		switch typ := d.Type(); {
		case typ.IsDir():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("archive: pack: %w", err)
			}
			p.st.Dirs++
			if err := p.tw.WriteHeader(p.header(name+"/", tar.TypeDir, info.Mode())); err != nil {
				return fmt.Errorf("archive: writing tar: %w", err)
			}
		case typ&fs.ModeSymlink != 0:
			return p.symlink(fpath, rel, name)
		case typ.IsRegular():
			return p.file(fpath, name)
		default:
			return unsafeEntry(fpath, "is a %s; only regular files, directories and symlinks can be packed (remove it from the staged tree)", typeName(typ))
		}
		return nil
	})
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file (" + m.Type().String() + ")"
}

func (p *packer) symlink(fpath, rel, name string) error {
	target, err := os.Readlink(fpath)
	if err != nil {
		return fmt.Errorf("archive: pack: %w", err)
	}
	base := splitPath(p.prefix)
	dir := splitPath(path.Dir(name))
	lookup := func(q string) (string, bool, error) {
		// q lies below the prefix (resolveInside never leaves base).
		r := strings.TrimPrefix(strings.TrimPrefix(q, p.prefix), "/")
		fi, err := os.Lstat(filepath.Join(p.src, filepath.FromSlash(r)))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return "", false, nil
		}
		t, err := os.Readlink(filepath.Join(p.src, filepath.FromSlash(r)))
		return t, err == nil, err
	}
	if err := resolveInside(base, dir, target, lookup); err != nil {
		return unsafeEntry(fpath, "symlink to %q: %v the packed tree; use a relative target inside the tree (archives must not point elsewhere on the FEC)", target, err)
	}
	h := p.header(name, tar.TypeSymlink, 0o777)
	h.Linkname = target
	if err := p.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("archive: writing tar: %w", err)
	}
	p.st.Symlinks++
	return nil
}

func (p *packer) file(fpath, name string) error {
	f, err := os.Open(fpath)
	if err != nil {
		return fmt.Errorf("archive: pack: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("archive: pack: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("archive: pack: %s changed while packing", fpath)
	}
	h := p.header(name, tar.TypeReg, fi.Mode())
	h.Size = fi.Size()
	if err := p.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("archive: writing tar: %w", err)
	}
	remaining := h.Size
	for remaining > 0 {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		b := p.buf
		if p.tail != nil {
			b = p.tail()
		}
		if int64(len(b)) > remaining {
			b = b[:remaining]
		}
		n, err := io.ReadFull(f, b)
		if n > 0 {
			if _, werr := p.tw.Write(b[:n]); werr != nil {
				return fmt.Errorf("archive: writing tar: %w", werr)
			}
			remaining -= int64(n)
			p.done += int64(n)
			if p.progress != nil {
				p.progress(p.done)
			}
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("archive: pack: %s shrank while packing; pack a tree nothing writes to", fpath)
			}
			return fmt.Errorf("archive: pack: %w", err)
		}
	}
	p.st.Files++
	p.st.InputBytes += h.Size
	return nil
}
