package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// ErrNoEntry: FindFile found no entry of that name.
var ErrNoEntry = errors.New("archive: no such entry")

// FindFile reads a compressed tar archive from r (format from its magic
// bytes) and returns the path and content of the one regular file whose
// base name is base, at any depth (e.g. the monitoring template
// "fecdeploy-monitor.conf" a release carries). ErrNoEntry when there is
// none; an error when there are several or the file is larger than max
// bytes. It reads until the end of the archive (to find duplicates) and
// writes nothing.
func FindFile(ctx context.Context, r io.Reader, base string, max int64) (name string, data []byte, err error) {
	f, rest, err := index.Detect(r)
	if err != nil {
		return "", nil, err
	}
	dr, err := openDecompressor(f, rest)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	for {
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if hdr.Typeflag != tar.TypeReg || path.Base(strings.TrimSuffix(hdr.Name, "/")) != base {
			continue
		}
		if name != "" {
			return "", nil, fmt.Errorf("archive: %s appears twice (%s and %s); keep one", base, name, hdr.Name)
		}
		if hdr.Size > max {
			return "", nil, fmt.Errorf("%w: %s is %d bytes, at most %d are read", ErrTooLarge, hdr.Name, hdr.Size, max)
		}
		data, err = io.ReadAll(io.LimitReader(tr, max+1))
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		name = hdr.Name
	}
	if name == "" {
		return "", nil, fmt.Errorf("%w: %s", ErrNoEntry, base)
	}
	return name, data, nil
}
