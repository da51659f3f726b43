package archive

import (
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstdChunk is the input size of one zstd frame of a parallel writer, and
// zstdWindow the window of the frames at the default level and below: how
// far back a match may reach, and so how much of the output a decoder must
// keep. A chunk is no larger than the window, so each frame is a "single
// segment" and a decoder never has to slide its history within a frame.
//
// Both decide the memory and speed of every boot: the Go decoder keeps
// about one window per archive being unpacked (four at once under
// fec-boot's memory limit). With 8 MiB frames (8 MiB windows) the GC ran
// dozens of times per boot to stay under the limit; 8 MiB frames with a
// 4 MiB window made the decoder move 4 MiB of history for every 128 KiB
// block in the second half of each frame (16 % of a boot's CPU in
// memmove). Frames are compressed independently, so smaller chunks cost
// ratio: on the benchmark payload 4 MiB frames are 1.7 % larger than 8 MiB
// ones, and as large as `tar -c | zstd -3` (docs/compression.md). The
// higher levels keep the encoder's 8 MiB window.
const (
	zstdChunk  = 4 << 20
	zstdWindow = 4 << 20
)

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
