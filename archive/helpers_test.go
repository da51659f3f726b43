package archive

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func packTree(t testing.TB, src string, opts PackOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := Pack(context.Background(), &buf, src, opts)
	require.NoError(t, err)
	return buf.Bytes()
}
