package verify

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const helloSum = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		data string
		size int64
		sum  string
		want error
	}{
		{"ok", "hello", 5, helloSum, nil},
		{"ok, size unchecked", "hello", -1, helloSum, nil},
		{"short", "hell", 5, helloSum, ErrSizeMismatch},
		{"long", "hello!", 5, helloSum, ErrSizeMismatch},
		{"tampered", "jello", 5, helloSum, ErrDigestMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := NewReader(iotest.OneByteReader(bytes.NewReader([]byte(tc.data))), tc.size, tc.sum)
			_, err := io.Copy(io.Discard, v)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			// The failure sticks: a consumer that reads again sees it again.
			_, err = v.Read(make([]byte, 1))
			require.ErrorIs(t, err, tc.want, "second read")
		})
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	sum, n, err := Digest(bytes.NewReader([]byte("hello")))
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)
	assert.Equal(t, helloSum, sum)
}
