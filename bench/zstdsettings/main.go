// Command zstdsettings compares klauspost zstd encoder settings on one tar
// stream held in memory: size and CPU time of each, compressed the way
// archive.Pack does (independent frames, GOMAXPROCS encoders at once),
// against `zstd -T0 -3` on the same stream. It produced the "settings
// tried" table of docs/benchmarks.md ("Pack speed"):
//
//	tar -c -C bench/out/payload . > /dev/shm/payload.tar
//	go run ./bench/zstdsettings -reps 3 /dev/shm/payload.tar
//
// Sizes are exact; CPU times swing with the machine's load.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

type setting struct {
	name          string
	level         zstd.EncoderLevel
	window, frame int
}

var settings = []setting{
	{"default, 8 MiB frames and window", zstd.SpeedDefault, 8 << 20, 8 << 20},
	{"default, 8 MiB frames, 4 MiB window", zstd.SpeedDefault, 4 << 20, 8 << 20},
	{"default, 8 MiB frames, 2 MiB window", zstd.SpeedDefault, 2 << 20, 8 << 20},
	{"default, 4 MiB frames = window", zstd.SpeedDefault, 4 << 20, 4 << 20},
	{"default, 2 MiB frames = window", zstd.SpeedDefault, 2 << 20, 2 << 20},
	{"default, 16 MiB frames, 4 MiB window", zstd.SpeedDefault, 4 << 20, 16 << 20},
	{"fastest, 8 MiB frames, 4 MiB window", zstd.SpeedFastest, 4 << 20, 8 << 20},
	{"better, 4 MiB frames = window", zstd.SpeedBetterCompression, 4 << 20, 4 << 20},
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	reps := flag.Int("reps", 1, "rounds over all settings")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: zstdsettings [-reps N] FILE.tar")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *reps); err != nil {
		fmt.Fprintln(os.Stderr, "zstdsettings:", err)
		os.Exit(1)
	}
}

func run(file string, reps int) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n := runtime.GOMAXPROCS(0)
	fmt.Printf("%s: %d bytes; %d encoders at once\n", file, len(data), n)
	for r := 0; r < reps; r++ {
		cmd := exec.Command("sh", "-c", `zstd -T0 -3 -q -c "$1" | wc -c`, "sh", file)
		t0 := time.Now()
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("zstd -T0 -3: %v", err)
		}
		cliCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		fmt.Printf("%-40s %7.3fs wall %7.3fs CPU  %s bytes\n", "zstd -T0 -3 (C)", time.Since(t0).Seconds(), cliCPU.Seconds(), strings.TrimSpace(string(out)))
		for _, s := range settings {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(s.level), zstd.WithEncoderConcurrency(n),
				zstd.WithEncoderCRC(false), zstd.WithWindowSize(s.window))
			if err != nil {
				return err
			}
			t0, c0 := time.Now(), cpuTime()
			var mu sync.Mutex
			var wg sync.WaitGroup
			var total int
			sem := make(chan struct{}, n)
			for off := 0; off < len(data); off += s.frame {
				in := data[off:min(off+s.frame, len(data))]
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := enc.EncodeAll(in, make([]byte, 0, len(in)+len(in)/1024))
					mu.Lock()
					total += len(o)
					mu.Unlock()
					<-sem
				}()
			}
			wg.Wait()
			cpu := cpuTime() - c0
			enc.Close()
			fmt.Printf("%-40s %7.3fs wall %7.3fs CPU  %d bytes  CPU vs C %.2f\n", s.name, time.Since(t0).Seconds(), cpu.Seconds(), total, cpu.Seconds()/cliCPU.Seconds())
		}
	}
	return nil
}
