package storage_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// gzipTar returns a gzip-compressed tar holding one file (build tools use
// the publish package, which packs a staged tree).
func gzipTar(name, content string) *bytes.Buffer {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	_ = zw.Close()
	return &b
}

// A storage from scratch: a FEC, two published versions of a software, a
// link, the INDEX the FEC fetches, a switch, and who uses what.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "storage-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	st, err := storage.Init(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}); err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		pub, err := st.Publish(ctx, storage.PublishRequest{
			Kind: index.KindSoftware, Name: "Foo_DU", Version: version.MustParse(v), Arch: "x86_64",
			Body: gzipTar("opt/fesa/Foo_DU/"+v+"/bin/Foo_DU", "#!/bin/sh\necho "+v+"\n"),
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("published", pub.Path)
	}
	if err := st.Link(ctx, "scu01", index.KindSoftware, "Foo_DU", "1.0.0"); err != nil {
		fmt.Println(err)
		return
	}
	info, err := st.FEC(ctx, "scu01")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range info.Entries {
		fmt.Println("INDEX of scu01:", e.Kind, e.Name, e.Path)
	}

	res, err := st.Switch(ctx, "scu01", "Foo_DU", "1.1.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("switched", res.FEC, res.From, "->", res.To)
	uses, err := st.Uses(ctx, index.KindSoftware, "Foo_DU", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range uses {
		fmt.Println("used by", u.FEC, u.Software, u.Version)
	}

	// A version that reads as one already published is refused.
	_, err = st.Publish(ctx, storage.PublishRequest{
		Kind: index.KindSoftware, Name: "Foo_DU", Version: version.MustParse("1.1.0"), Arch: "x86_64",
		Body: gzipTar("other", "other bytes"),
	})
	fmt.Println(errors.Is(err, storage.ErrImmutable))
	// Output:
	// published software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.gz
	// published software/Foo_DU/1.1.0/Foo_DU-1.1.0-x86_64.tar.gz
	// INDEX of scu01: software Foo_DU software/Foo_DU/1.0.0/Foo_DU-1.0.0-x86_64.tar.gz
	// switched scu01 1.0.0 -> 1.1.0
	// used by scu01 Foo_DU 1.1.0
	// true
}

// Two spellings of one version: 5.1.0-RC.1 next to a published 5.1.0-rc.1
// is refused, so FECs and the retention plan never see the same version
// twice.
func ExampleStorage_Publish_collision() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "storage-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	st, err := storage.Init(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range []string{"5.1.0-rc.1", "5.1.0-RC.1"} {
		_, err := st.Publish(ctx, storage.PublishRequest{
			Kind: index.KindSoftware, Name: "Foo_DU", Version: version.MustParse(v), Arch: index.NoArch,
			Body: gzipTar("etc/foo.conf", v),
		})
		fmt.Println(v, errors.Is(err, version.ErrCollides))
	}
	// Output:
	// 5.1.0-rc.1 false
	// 5.1.0-RC.1 true
}
