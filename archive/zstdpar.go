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

// zstdWindow is the window of the frames at the default level and below:
// how far back a match may reach, and so how much of the output a decoder
// must keep. Without it every 8 MiB frame would be a single segment whose
// window is the whole frame, and the Go decoder would keep 8 MiB per
// archive being unpacked, times four parallel downloads on a FEC, where
// that made the GC run dozens of times per boot under fec-boot's memory
// limit. On the benchmark payload 4 MiB gives the same size as 8 MiB
// (packed trees are sorted, so similar libraries lie close together);
// 2 MiB, what `zstd -3` uses, was 1.4 % larger. The higher levels keep the
// encoder's 8 MiB (zstd -19 uses 8 MiB too).
const zstdWindow = 4 << 20

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
	max     int         // frames in flight
	free    chan []byte // input chunks to reuse
	freeOut chan []byte // output buffers to reuse
	err     error
	written bool
}

type zstdJob struct {
	in, out []byte
	done    chan struct{}
}

func newParallelZstd(w io.Writer, level zstd.EncoderLevel) (*parallelZstd, error) {
	n := runtime.GOMAXPROCS(0)
	// No frame checksum: every archive is verified as a whole (size and
	// sha256 from the INDEX, itself signed) before anything of it is
	// committed, so a 32-bit xxhash per frame adds no safety, only an
	// extra pass over every byte, at pack time and in every FEC's decoder.
	opts := []zstd.EOption{zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(n), zstd.WithEncoderCRC(false)}
	if level <= zstd.SpeedDefault {
		opts = append(opts, zstd.WithWindowSize(zstdWindow))
	}
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return nil, err
	}
	return &parallelZstd{w: w, enc: enc, max: n + 1, free: make(chan []byte, n+2), freeOut: make(chan []byte, n+2)}, nil
}

func (p *parallelZstd) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	total := len(b)
	for len(b) > 0 {
		if p.buf == nil {
			p.newChunk()
		}
		n := min(len(b), zstdChunk-len(p.buf))
		if l := len(p.buf); l < cap(p.buf) && &b[0] == &p.buf[:l+1][l] {
			p.buf = p.buf[:l+n] // read into tail(): in place already
		} else {
			p.buf = append(p.buf, b[:n]...)
		}
		b = b[n:]
		if len(p.buf) == zstdChunk {
			if err := p.submit(); err != nil {
				return total - len(b), err
			}
		}
	}
	return total, nil
}

func (p *parallelZstd) newChunk() {
	select {
	case p.buf = <-p.free:
		p.buf = p.buf[:0]
	default:
		p.buf = make([]byte, 0, zstdChunk)
	}
}

// tail returns the unused rest of the chunk being filled (never empty). A
// caller that reads its data straight into it and then writes (a prefix
// of) that slice saves a copy of every byte: Write recognises its own
// buffer and only extends the chunk. Any other Write in between is fine
// too (it copies, and a later tail starts after it).
func (p *parallelZstd) tail() []byte {
	if p.buf == nil {
		p.newChunk()
	}
	return p.buf[len(p.buf):zstdChunk]
}

func (p *parallelZstd) submit() error {
	j := &zstdJob{in: p.buf, done: make(chan struct{})}
	p.buf = nil
	var dst []byte
	select {
	case dst = <-p.freeOut:
	default:
		// A frame is at most its input plus a few bytes per block: with
		// room for that, EncodeAll never grows (copies) the buffer.
		dst = make([]byte, 0, zstdChunk+zstdChunk/1024)
	}
	go func() {
		j.out = p.enc.EncodeAll(j.in, dst[:0])
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
	select {
	case p.freeOut <- j.out[:0]:
	default:
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
