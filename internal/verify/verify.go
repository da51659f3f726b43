// Package verify checks size and sha256 of a stream while it is read, so a
// download is verified without a second pass and without holding it in memory.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Errors reported at the end of the stream (or as soon as it is too long).
var (
	ErrSizeMismatch   = errors.New("verify: size mismatch")
	ErrDigestMismatch = errors.New("verify: sha256 mismatch")
)

// Reader passes bytes through and fails the read that would make the stream
// longer than its expected size, and the read that reaches EOF when the size
// or the sha256 differ. Consumers must read to io.EOF for the check to run.
type Reader struct {
	r      io.Reader
	h      hash.Hash
	want   string
	size   int64
	n      int64
	failed error
}

// NewReader wraps r, expecting exactly size bytes with the given lowercase hex
// sha256. A negative size skips the size check.
func NewReader(r io.Reader, size int64, sha256hex string) *Reader {
	return &Reader{r: r, h: sha256.New(), want: sha256hex, size: size}
}

// N is the number of bytes read so far.
func (v *Reader) N() int64 { return v.n }

// Sum is the hex sha256 of what has been read so far.
func (v *Reader) Sum() string { return hex.EncodeToString(v.h.Sum(nil)) }

func (v *Reader) Read(p []byte) (int, error) {
	if v.failed != nil {
		return 0, v.failed
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
		if v.size >= 0 && v.n > v.size {
			v.failed = fmt.Errorf("%w: more than the expected %d bytes", ErrSizeMismatch, v.size)
			return 0, v.failed
		}
	}
	if err == io.EOF {
		if v.size >= 0 && v.n != v.size {
			v.failed = fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, v.n, v.size)
			return n, v.failed
		}
		if got := v.Sum(); got != v.want {
			v.failed = fmt.Errorf("%w: got %s, want %s", ErrDigestMismatch, got, v.want)
			return n, v.failed
		}
	}
	return n, err
}

// Digest hashes a whole stream and returns its hex sha256 and length.
func Digest(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}
