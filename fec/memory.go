package fec

// MemoryLimit is the Go memory limit (runtime/debug.SetMemoryLimit) that
// fec-boot sets unless GOMEMLIMIT is given. A FEC has little RAM and the
// downloads stream; what stays live is mostly the zstd decoders' history
// buffers, a little more than one zstd window per archive being unpacked
// (Parallel of them: 4 MiB windows since fec-pack writes them, 8 MiB for
// archives packed before). Close to the live size the GC runs dozens to
// hundreds of times per boot (docs/benchmarks.md, fec-boot).
const MemoryLimit = 52 << 20
