package archive

import (
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstdChunk is the input size of one zstd frame of a parallel writer.
// Frames are compressed independently, so smaller chunks cost ratio: at 8
// MiB the output is within a fraction of a percent of one single frame (see
// docs/compression.md).
const zstdChunk = 8 << 20

// parallelZstd compresses a stream as a sequence of independent zstd frames,
// one per zstdChunk of input, on all CPUs, and writes them in order. A
// multi-frame stream is a valid zstd stream for every decoder (zstd -d,
// klauspost). The output depends only on the input, the level and the
// chunk size, never on timing or the number of CPUs.
//
// klauspost's streaming Encoder with WithEncoderConcurrency only overlaps
// one block's compression with reading the next; it cannot use more than
// about one core for the compression itself, which made Pack slower than
// tar | zstd -T0.
type parallelZstd struct {
	w       io.Writer
	enc     *zstd.Encoder
	buf     []byte
	queue   []*zstdJob
	max     int // frames in flight
	free    chan []byte
	err     error
	written bool
}

type zstdJob struct {
	in, out []byte
	done    chan struct{}
}

func newParallelZstd(w io.Writer, level zstd.EncoderLevel) (*parallelZstd, error) {
	n := runtime.GOMAXPROCS(0)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(n), zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	return &parallelZstd{w: w, enc: enc, max: n + 1, free: make(chan []byte, n+2)}, nil
}

func (p *parallelZstd) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	total := len(b)
	for len(b) > 0 {
		if p.buf == nil {
			select {
			case p.buf = <-p.free:
				p.buf = p.buf[:0]
			default:
				p.buf = make([]byte, 0, zstdChunk)
			}
		}
		n := min(len(b), zstdChunk-len(p.buf))
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
		if len(p.buf) == zstdChunk {
			if err := p.submit(); err != nil {
				return total - len(b), err
			}
		}
	}
	return total, nil
}

func (p *parallelZstd) submit() error {
	j := &zstdJob{in: p.buf, done: make(chan struct{})}
	p.buf = nil
	go func() {
		j.out = p.enc.EncodeAll(j.in, make([]byte, 0, len(j.in)/2))
		close(j.done)
	}()
	p.queue = append(p.queue, j)
	for len(p.queue) >= p.max {
		if err := p.flushOne(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parallelZstd) flushOne() error {
	j := p.queue[0]
	p.queue = p.queue[1:]
	<-j.done
	select {
	case p.free <- j.in:
	default:
	}
	if p.err != nil {
		return p.err
	}
	if _, err := p.w.Write(j.out); err != nil {
		p.err = err
	}
	p.written = true
	return p.err
}

// Close compresses what is buffered and writes all pending frames.
func (p *parallelZstd) Close() error {
	if len(p.buf) > 0 || (!p.written && len(p.queue) == 0) {
		if p.buf == nil {
			p.buf = []byte{}
		}
		p.submitLast()
	}
	for len(p.queue) > 0 {
		p.flushOne()
	}
	p.enc.Close()
	return p.err
}

func (p *parallelZstd) submitLast() {
	j := &zstdJob{in: p.buf, done: make(chan struct{})}
	p.buf = nil
	go func() {
		j.out = p.enc.EncodeAll(j.in, nil)
		close(j.done)
	}()
	p.queue = append(p.queue, j)
}
