package verify

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

const helloSum = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestReader(t *testing.T) {
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
			v := NewReader(iotest.OneByteReader(bytes.NewReader([]byte(tc.data))), tc.size, tc.sum)
			_, err := io.Copy(io.Discard, v)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// The failure sticks: a consumer that reads again sees it again.
			if tc.want != nil {
				if _, err2 := v.Read(make([]byte, 1)); !errors.Is(err2, tc.want) {
					t.Fatalf("second read err = %v, want %v", err2, tc.want)
				}
			}
		})
	}
}

func TestDigest(t *testing.T) {
	sum, n, err := Digest(bytes.NewReader([]byte("hello")))
	if err != nil || n != 5 || sum != helloSum {
		t.Fatalf("Digest = %s %d %v", sum, n, err)
	}
}
