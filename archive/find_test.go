package archive_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
)

func TestFindFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pack := func(tree map[string]string, f index.Format) []byte {
		var b bytes.Buffer
		_, err := archive.Pack(ctx, &b, testkit.WriteTree(t, t.TempDir(), tree), archive.PackOptions{Format: f, Prefix: "opt/fesa/Foo_DU/1.2.0"})
		require.NoError(t, err)
		return b.Bytes()
	}
	for _, f := range index.Formats() {
		a := pack(map[string]string{"bin/Foo_DU": "ELF", "etc/fecdeploy-monitor.conf": "check=process\n"}, f)
		name, data, err := archive.FindFile(ctx, bytes.NewReader(a), "fecdeploy-monitor.conf", 1024)
		require.NoError(t, err, f)
		assert.Equal(t, "opt/fesa/Foo_DU/1.2.0/etc/fecdeploy-monitor.conf", name)
		assert.Equal(t, "check=process\n", string(data))
	}
	a := pack(map[string]string{"bin/Foo_DU": "ELF"}, index.FormatGzip)
	_, _, err := archive.FindFile(ctx, bytes.NewReader(a), "fecdeploy-monitor.conf", 1024)
	assert.ErrorIs(t, err, archive.ErrNoEntry)

	a = pack(map[string]string{"a/fecdeploy-monitor.conf": "x", "b/fecdeploy-monitor.conf": "y"}, index.FormatGzip)
	_, _, err = archive.FindFile(ctx, bytes.NewReader(a), "fecdeploy-monitor.conf", 1024)
	assert.ErrorContains(t, err, "appears twice")

	a = pack(map[string]string{"fecdeploy-monitor.conf": "0123456789"}, index.FormatGzip)
	_, _, err = archive.FindFile(ctx, bytes.NewReader(a), "fecdeploy-monitor.conf", 5)
	assert.ErrorIs(t, err, archive.ErrTooLarge)

	_, _, err = archive.FindFile(ctx, bytes.NewReader(a[:len(a)/2]), "fecdeploy-monitor.conf", 1024)
	assert.ErrorIs(t, err, archive.ErrCorrupt)
}
