package publish

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/mholt/archives"
)

// ErrUnsafeInput: an entry of an input archive breaks the rules every
// archive obeys on a FEC (no "..", no absolute names, no links leaving the
// tree, no devices or FIFOs). Nothing is packed from such an input.
var ErrUnsafeInput = errors.New("publish: unsafe entry in the input archive")

// Input limits: the same order as on a FEC (archive.UnpackOptions).
const (
	maxInputBytes   = 8 << 30
	maxInputEntries = 200_000
)

// PackInput packs req.SourceDir into path like PackFile; SourceDir may also
// be an archive in any common format (tar, tar.gz/bz2/xz/zst/lz4, zip, 7z,
// ...): its entries are checked with the rules of a FEC, unpacked into a
// private temporary directory and repacked in the storage's canonical
// format with req.Prefix applied, so the same content gives the same bytes
// whatever the input format.
func PackInput(ctx context.Context, path string, req Request) (archive.PackStats, error) {
	dir, cleanup, err := InputDir(ctx, req.SourceDir)
	if err != nil {
		return archive.PackStats{}, err
	}
	defer cleanup()
	req.SourceDir = dir
	return PackFile(ctx, path, req)
}

// InputDir returns a directory with the content of src: src itself when it
// is a directory, else the checked content of the archive src in a
// temporary directory that cleanup removes.
func InputDir(ctx context.Context, src string) (dir string, cleanup func(), err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", nil, fmt.Errorf("input %s: %w", src, err)
	}
	if fi.IsDir() {
		return src, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "fecdeploy-input-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	if err := os.Chmod(tmp, 0o755); err != nil { // the top directory is packed as the prefix
		cleanup()
		return "", nil, err
	}
	if err := extractInput(ctx, src, tmp); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("input %s: %w", src, err)
	}
	return tmp, cleanup, nil
}

func extractInput(ctx context.Context, src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	format, _, err := archives.Identify(ctx, filepath.Base(src), f)
	if err != nil {
		return fmt.Errorf("not an archive format fec-pack reads (tar, tar.gz, tar.bz2, tar.xz, tar.zst, zip, 7z, ...): %w", err)
	}
	ex, ok := format.(archives.Extractor)
	if !ok {
		return fmt.Errorf("%s is a compressed file, not an archive: give a directory or an archive of files", format.Extension())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	x := &inputExtractor{root: root, links: map[string]string{}}
	if err := ex.Extract(ctx, f, x.handle); err != nil {
		return err
	}
	return x.checkLinks()
}

type inputExtractor struct {
	root    *os.Root
	entries int
	bytes   int64
	links   map[string]string // symlink name -> target, checked at the end
}

func unsafeInput(name, format string, a ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrUnsafeInput, name, fmt.Sprintf(format, a...))
}

// cleanName applies the FEC's rules to an entry name and returns it
// cleaned (slash-separated, relative), or "" for the top directory.
func cleanName(raw string) (string, error) {
	n := strings.TrimPrefix(filepath.ToSlash(raw), "./")
	if strings.HasPrefix(n, "/") {
		return "", unsafeInput(raw, "absolute name")
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", unsafeInput(raw, "\"..\" in the name")
		}
	}
	n = path.Clean(n)
	if n == "." {
		return "", nil
	}
	if !filepath.IsLocal(filepath.FromSlash(n)) {
		return "", unsafeInput(raw, "not a local name")
	}
	return n, nil
}

func (x *inputExtractor) handle(ctx context.Context, fi archives.FileInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	x.entries++
	if x.entries > maxInputEntries {
		return fmt.Errorf("%w: more than %d entries", archive.ErrTooManyEntries, maxInputEntries)
	}
	name, err := cleanName(fi.NameInArchive)
	if err != nil {
		return err
	}
	if name == "" {
		return nil
	}
	mode := fi.Mode()
	if h, ok := fi.Header.(*tar.Header); ok && h.Typeflag == tar.TypeLink {
		return x.hardlink(name, h.Linkname)
	}
	if err := x.mkdirAll(filepath.FromSlash(path.Dir(name)), 0o755); err != nil && path.Dir(name) != "." {
		return fmt.Errorf("creating %s: %w", path.Dir(name), err)
	}
	switch {
	case mode.IsDir():
		if err := x.mkdirAll(filepath.FromSlash(name), 0o755); err != nil {
			return err
		}
		return x.chmod(name, mode.Perm()|0o700)
	case mode&fs.ModeSymlink != 0:
		target := fi.LinkTarget
		if target == "" || strings.HasPrefix(target, "/") {
			return unsafeInput(fi.NameInArchive, "symlink to %q: only relative links inside the tree", target)
		}
		if !filepath.IsLocal(filepath.FromSlash(path.Join(path.Dir(name), target))) {
			return unsafeInput(fi.NameInArchive, "symlink to %q leaves the tree", target)
		}
		x.links[name] = target
		if err := x.notThroughLink(name); err != nil {
			return err
		}
		if _, err := x.root.Lstat(filepath.FromSlash(name)); err == nil {
			return unsafeInput(fi.NameInArchive, "duplicate entry")
		}
		return os.Symlink(target, filepath.Join(x.root.Name(), filepath.FromSlash(name)))
	case mode.IsRegular():
		return x.file(fi, name, mode)
	default:
		return unsafeInput(fi.NameInArchive, "%s: only regular files, directories and symlinks are allowed", mode.Type())
	}
}

func (x *inputExtractor) file(fi archives.FileInfo, name string, mode fs.FileMode) error {
	if err := x.notThroughLink(name); err != nil {
		return err
	}
	rc, err := fi.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := x.root.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm()&0o777|0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return unsafeInput(fi.NameInArchive, "duplicate entry")
		}
		return err
	}
	n, err := io.Copy(out, io.LimitReader(rc, maxInputBytes-x.bytes+1))
	x.bytes += n
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if x.bytes > maxInputBytes {
		return fmt.Errorf("%w: more than %d bytes", archive.ErrTooLarge, int64(maxInputBytes))
	}
	return x.chmod(name, mode.Perm()&0o777)
}

// notThroughLink refuses a file below a symlink of the archive (writing
// through it could land anywhere the link points to).
func (x *inputExtractor) notThroughLink(name string) error {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if _, ok := x.links[d]; ok {
			return unsafeInput(name, "written through the symlink %s", d)
		}
	}
	return nil
}

func (x *inputExtractor) hardlink(name, target string) error {
	t, err := cleanName(target)
	if err != nil || t == "" {
		return unsafeInput(name, "hard link to %q outside the tree", target)
	}
	if err := x.notThroughLink(name); err != nil {
		return err
	}
	// Repacked as a copy of its target (the canonical format has no hard links).
	in, err := x.root.Open(filepath.FromSlash(t))
	if err != nil {
		return unsafeInput(name, "hard link to %q, which is not an earlier regular file", target)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return unsafeInput(name, "hard link to %q, which is not a regular file", target)
	}
	if err := x.mkdirAll(filepath.FromSlash(path.Dir(name)), 0o755); err != nil && path.Dir(name) != "." {
		return err
	}
	out, err := x.root.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkLinks refuses symlink chains that leave the tree once every link
// exists (a link to a link to "../..").
func (x *inputExtractor) checkLinks() error {
	for name := range x.links {
		cur := name
		for hops := 0; ; hops++ {
			t, ok := x.links[cur]
			if !ok {
				break
			}
			if hops > 40 {
				return unsafeInput(name, "symlink loop")
			}
			next := path.Join(path.Dir(cur), t)
			if !filepath.IsLocal(filepath.FromSlash(next)) {
				return unsafeInput(name, "symlink chain leaves the tree")
			}
			cur = next
		}
	}
	return nil
}

// mkdirAll creates dir (slash-separated, relative) and its parents inside
// the root, never through a symlink of the archive.
func (x *inputExtractor) mkdirAll(dir string, perm fs.FileMode) error {
	if dir == "." || dir == "" {
		return nil
	}
	if err := x.notThroughLink(dir + "/x"); err != nil {
		return err
	}
	cur := ""
	for _, c := range strings.Split(dir, "/") {
		cur = path.Join(cur, c)
		err := x.root.Mkdir(filepath.FromSlash(cur), perm)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err == nil { // not the umask's choice: the same bytes on every host
			if err := x.chmod(cur, perm); err != nil {
				return err
			}
		}
		if st, err := x.root.Lstat(filepath.FromSlash(cur)); err != nil || !st.IsDir() {
			return unsafeInput(dir, "%s is not a directory", cur)
		}
	}
	return nil
}

func (x *inputExtractor) chmod(name string, perm fs.FileMode) error {
	f, err := x.root.Open(filepath.FromSlash(name))
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(perm)
}
