package storage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// PutFile writes a file straight into a FEC's folder and regenerates its
// INDEX: kind init writes the script init/<name> (0755); configuration
// writes the FEC-specific archive configuration/<name>; data writes the
// snapshot persistent-data/<name>.tar.<ext> (creating the folder, which opts
// the FEC into persistence). Archives are checked by magic bytes
// (ErrUnknownFormat) and against the FEC's decoders (ErrNoDecoder). An
// existing symlink or file of that name is replaced atomically.
func (s *Storage) PutFile(ctx context.Context, fec string, kind index.Kind, name string, body io.Reader) error {
	if kind == index.KindSoftware {
		return fmt.Errorf("%w: software is published and linked, not put into a FEC's folder", ErrBadRequest)
	}
	if _, err := pathFor(fecEntryPathSpec{fec, kind, name}); err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		c, err := s.readFECConf(fec)
		if err != nil {
			return err
		}
		br := bufio.NewReaderSize(body, 64<<10)
		file, perm := name, os.FileMode(0o755)
		if kind.IsArchive() {
			perm = 0o644
			head, _ := br.Peek(index.MagicLen)
			format, ok := index.FormatOf(head)
			if !ok {
				return fmt.Errorf("%w: %s %s for FEC %s starts with % x", index.ErrUnknownFormat, kind, name, fec, head)
			}
			if !c.CanDecode(format) {
				return fmt.Errorf("%w: FEC %s cannot decompress the %s archive %s (decoders=%s); compress it with gzip",
					ErrNoDecoder, fec, format, name, strings.Join(c.Decoders, ","))
			}
			if kind == index.KindData {
				file = name + format.Extension()
			}
		}
		dirRel, _ := pathFor(fecKindPathSpec{fec, kind})
		rel := path.Join(dirRel, file)
		if err := s.writeStream(ctx, rel, perm, br, true); err != nil {
			return fmt.Errorf("storage: writing %s: %w", rel, err)
		}
		if kind == index.KindData {
			// Older snapshots of the same name in another format go.
			ents, _ := os.ReadDir(s.abs(dirRel))
			for _, e := range ents {
				if stem, _, ok := index.SplitExtension(e.Name()); ok && stem == name && e.Name() != file {
					if err := removeDurably(s.abs(dirRel), e.Name()); err != nil {
						return err
					}
				}
			}
		}
		s.logger().Info("wrote file", "fec", fec, "path", rel)
		return s.reindexLocked(ctx, []string{fec})
	})
}

// writeStream writes body to the base-relative rel atomically. A symlink in
// the way is replaced only when replaceLink; a directory never is.
func (s *Storage) writeStream(ctx context.Context, rel string, perm os.FileMode, body io.Reader, replaceLink bool) error {
	if body == nil {
		return fmt.Errorf("%w: no body", ErrBadRequest)
	}
	if st, err := os.Lstat(s.abs(rel)); err == nil {
		if st.IsDir() || (st.Mode()&os.ModeSymlink != 0 && !replaceLink) {
			return fmt.Errorf("%w: %s is a %s; remove it by hand first", ErrExists, rel, describeMode(st.Mode()))
		}
	}
	dir := s.abs(path.Dir(rel))
	created, err := mkdirs(s.base, dir)
	if err != nil {
		removeEmpty(created)
		return err
	}
	t, err := createTemp(dir, path.Base(rel))
	if err != nil {
		removeEmpty(created)
		return err
	}
	if _, err := io.Copy(t, ctxReader{ctx, body}); err != nil {
		t.Abort()
		removeEmpty(created)
		return err
	}
	if err := t.Commit(path.Base(rel), perm); err != nil {
		removeEmpty(created)
		return err
	}
	return nil
}
