package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fair-acc/fecdeploy/archive"
)

// Pack a staged install tree under its unpack location, then install it
// below a FEC root that allows only /opt.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "archive-example")
	defer os.RemoveAll(tmp)
	staged := filepath.Join(tmp, "staged")
	os.MkdirAll(filepath.Join(staged, "bin"), 0o755)
	os.WriteFile(filepath.Join(staged, "bin", "foo"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("bin/foo", filepath.Join(staged, "foo"))

	var buf bytes.Buffer
	st, err := archive.Pack(ctx, &buf, staged, archive.PackOptions{Prefix: "opt/fesa/Foo_DU/1.2.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("packed %d file, %d symlink, %d directories\n", st.Files, st.Symlinks, st.Dirs)

	root := filepath.Join(tmp, "fec-root")
	os.Mkdir(root, 0o755)
	s, err := archive.Stage(ctx, &buf, root, archive.UnpackOptions{AllowedRoots: []string{"opt"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := s.Commit()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("installed %d file, %d symlink, %d bytes\n", res.Files, res.Symlinks, res.Bytes)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		fmt.Println(rel)
		return nil
	})
	// Output:
	// packed 1 file, 1 symlink, 5 directories
	// installed 1 file, 1 symlink, 10 bytes
	// .
	// opt
	// opt/fesa
	// opt/fesa/Foo_DU
	// opt/fesa/Foo_DU/1.2.0
	// opt/fesa/Foo_DU/1.2.0/bin
	// opt/fesa/Foo_DU/1.2.0/bin/foo
	// opt/fesa/Foo_DU/1.2.0/foo
}
