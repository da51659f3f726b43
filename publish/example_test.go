package publish_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// What a build tool's install step does: pack the staged tree, publish it,
// link it to a FEC. A lenient version spelling is refused before anything
// is packed.
func ExampleRelease() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "publish-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp)
	st, err := storage.Init(filepath.Join(tmp, "ws"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}); err != nil {
		fmt.Println(err)
		return
	}
	// The staged install tree, as make install DESTDIR=... leaves it.
	stage := filepath.Join(tmp, "stage")
	if err := os.MkdirAll(filepath.Join(stage, "bin"), 0o755); err != nil {
		fmt.Println(err)
		return
	}
	if err := os.WriteFile(filepath.Join(stage, "bin", "Foo_DU"), []byte("#!/bin/sh\necho Foo_DU\n"), 0o755); err != nil {
		fmt.Println(err)
		return
	}

	res, err := publish.Release(ctx, st, publish.Request{
		Name: "Foo_DU", Version: "1.2.0", Arch: "x86_64",
		SourceDir: stage, Prefix: "opt/fesa/Foo_DU/1.2.0",
		Link: []string{"scu01"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Published.Path, res.Published.Format, res.Linked, res.Pack.Files)

	_, err = publish.Release(ctx, st, publish.Request{
		Name: "Foo_DU", Version: "v1.3.0", Arch: "x86_64", SourceDir: stage, Prefix: "opt/fesa/Foo_DU/1.3.0",
	})
	fmt.Println(errors.Is(err, version.ErrInvalid))
	fmt.Println(err)
	// Output:
	// software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst zstd [scu01] 1
	// true
	// bad version "v1.3.0": drop the leading 'v' → 1.3.0
}
