// Command compression measures archive formats for fecdeploy: compression
// ratio, pack time and unpack time of our archive package against the
// command-line baseline (tar + zstd/gzip/xz), alternating the runs and
// reporting medians, plus the two ratios the compression issue targets.
//
// Run it from the repository root (make bench does):
//
//	go run ./bench/compression               # ~210 MB payload, 3 repetitions (~5 min)
//	BENCH_QUICK=1 go run ./bench/compression # ~60 MB payload, for a smoke run
//
// zstd -19 and xz (a few MB/s) run once on the ~60 MB payload; their
// command-line packs (minutes) only with -slowcli. Flags: -reps N, -out DIR
// (default bench/out, git-ignored; payloads are cached there), -cpuprofile
// FILE (profiles our unpack of the default zstd archive once). Needs tar,
// zstd, gzip and xz on PATH; busybox optional. -packprofile FILE profiles one
// pack of the payload at the default zstd level.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/bench/internal/benchkit"
	"github.com/fair-acc/fecdeploy/index"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := child(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	reps := flag.Int("reps", 3, "repetitions of the fast configurations (medians are reported)")
	out := flag.String("out", "bench/out", "work directory (payload cache, archives)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of one unpack of our default zstd archive")
	packprofile := flag.String("packprofile", "", "write a CPU profile of one pack of the payload at the default zstd level")
	only := flag.String("only", "", "comma-separated configurations to run (zstd-1, zstd-3, zstd-9, gzip-6, zstd-19, xz); default all")
	slowCLI := flag.Bool("slowcli", false, "also time the command-line packs of zstd -19 and xz (minutes)")
	flag.Parse()
	if err := run(*reps, *out, *cpuprofile, *packprofile, *only, *slowCLI); err != nil {
		fmt.Fprintln(os.Stderr, "compression bench:", err)
		os.Exit(1)
	}
}

// child runs one of our operations in a fresh process, so both sides pay
// for process start and neither inherits the other's heap.
func child(args []string) error {
	ctx := context.Background()
	switch args[0] {
	case "pack": // pack <format> <level> <src> <out> [cpuprofile]
		if len(args) > 5 {
			pf, err := os.Create(args[5])
			if err != nil {
				return err
			}
			pprof.StartCPUProfile(pf)
			defer pprof.StopCPUProfile()
		}
		level, _ := strconv.Atoi(args[2])
		f, err := os.Create(args[4])
		if err != nil {
			return err
		}
		if _, err := archive.Pack(ctx, f, args[3], archive.PackOptions{Format: index.Format(args[1]), Level: level, Prefix: "opt/fesa/Bench_DU/1.0.0"}); err != nil {
			return err
		}
		return f.Close()
	case "unpack": // unpack <archive> <root> [cpuprofile]
		if len(args) > 3 {
			pf, err := os.Create(args[3])
			if err != nil {
				return err
			}
			pprof.StartCPUProfile(pf)
			defer pprof.StopCPUProfile()
		}
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = archive.Unpack(ctx, f, args[2], archive.UnpackOptions{AllowedRoots: []string{"opt"}})
		return err
	}
	return fmt.Errorf("unknown child command %q", args[0])
}

type config struct {
	name   string
	format index.Format
	level  int
	cliC   string // shell: pack $SRC into $OUT
	cliX   string // shell: unpack $IN into $DST
	slow   bool   // measured once
	bbX    string // shell: unpack with busybox tar (the PowerPC FEC userland), if it can
}

func configs() []config {
	zx := `zstd -d -q -c "$IN" | tar -x -C "$DST"`
	return []config{
		{"zstd-1", index.FormatZstd, 1, `tar -c -C "$SRC" . | zstd -T0 -1 -q -f -o "$OUT"`, zx, false, ""},
		{"zstd-3", index.FormatZstd, 0, `tar -c -C "$SRC" . | zstd -T0 -3 -q -f -o "$OUT"`, zx, false, ""},
		{"zstd-9", index.FormatZstd, 9, `tar -c -C "$SRC" . | zstd -T0 -9 -q -f -o "$OUT"`, zx, false, ""},
		{"gzip-6", index.FormatGzip, 0, `tar -cz -C "$SRC" -f "$OUT" .`, `tar -xz -C "$DST" -f "$IN"`, false, `busybox tar -xz -C "$DST" -f "$IN"`},
		{"zstd-19", index.FormatZstd, 19, `tar -c -C "$SRC" . | zstd -T0 -19 -q -f -o "$OUT"`, zx, true, ""},
		{"xz", index.FormatXz, 0, `tar -cJ -C "$SRC" -f "$OUT" .`, `tar -xJ -C "$DST" -f "$IN"`, true, `busybox tar -xJ -C "$DST" -f "$IN"`},
	}
}

type sample struct {
	packGo, packCLI, unGo, unCLI, unBB []time.Duration
	// CPU time (user+system, including child processes): less sensitive
	// to other load on the machine than wall time.
	cpuPackGo, cpuPackCLI, cpuUnGo, cpuUnCLI []time.Duration
}

// lastCPU is the CPU time (user+system, children included) of the last sh
// or timed run.
var lastCPU time.Duration

func run(reps int, out, cpuprofile, packprofile, only string, slowCLI bool) error {
	quick := os.Getenv("BENCH_QUICK") == "1"
	for _, tool := range []string{"tar", "zstd", "gzip", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not on PATH (apt-get install %s)", tool, tool)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	payload, inBytes, files, err := buildPayload(out, quick)
	if err != nil {
		return err
	}
	fmt.Printf("payload %s: %d files, %.1f MB; %d CPUs (GOMAXPROCS %d); reps %d\n",
		payload, files, float64(inBytes)/1e6, runtime.NumCPU(), runtime.GOMAXPROCS(0), reps)
	// zstd -19 and xz compress at a few MB/s: they run once, on the small
	// payload, to keep a full run near five minutes.
	slowPayload, slowBytes, slowFiles, err := buildPayload(out, true)
	if err != nil {
		return err
	}
	fmt.Printf("slow configurations (zstd-19, xz) use %s: %d files, %.1f MB, one run\n", slowPayload, slowFiles, float64(slowBytes)/1e6)
	arch := filepath.Join(out, "archives")
	os.RemoveAll(arch)
	if err := os.MkdirAll(arch, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(out, "unpacked")
	cfgs := configs()
	if only != "" {
		var sel []config
		for _, c := range cfgs {
			if slices.Contains(strings.Split(only, ","), c.name) {
				sel = append(sel, c)
			}
		}
		if len(sel) == 0 {
			return fmt.Errorf("-only %q names no configuration", only)
		}
		cfgs = sel
	}
	res := make([]sample, len(cfgs))
	sizes := make([][2]int64, len(cfgs))

	// Flush dirty pages before each timed step, so that one step's
	// writeback does not land in the next one's time.
	measure := func(cmd *exec.Cmd) (time.Duration, error) {
		benchkit.Sync()
		cmd.Stderr = os.Stderr
		s, err := benchkit.Time(cmd)
		lastCPU = s.CPU
		return s.Wall, err
	}
	sh := func(script string, env ...string) (time.Duration, error) {
		cmd := exec.Command("sh", "-ec", script)
		cmd.Env = append(os.Environ(), env...)
		return measure(cmd)
	}
	timed := func(args ...string) (time.Duration, error) {
		return measure(exec.Command(self, append([]string{"child"}, args...)...))
	}
	// Warm the page cache: every step then reads the payload from memory.
	if _, err := sh(`tar -c -C "$SRC" . >/dev/null; tar -c -C "$SLOW" . >/dev/null`, "SRC="+payload, "SLOW="+slowPayload); err != nil {
		return err
	}
	fresh := func() (string, error) { return dst, benchkit.FreshDir(dst) }

	for rep := 0; rep < reps; rep++ {
		for i, c := range cfgs {
			if c.slow && rep > 0 {
				continue
			}
			payload := payload
			if c.slow {
				payload = slowPayload
			}
			goOut := filepath.Join(arch, "go-"+c.name+c.format.Extension())
			cliOut := filepath.Join(arch, "cli-"+c.name+c.format.Extension())
			// Alternate which side goes first (here and for the unpacks).
			steps := []func() error{
				func() error {
					d, err := timed("pack", string(c.format), strconv.Itoa(c.level), payload, goOut)
					res[i].packGo = append(res[i].packGo, d)
					res[i].cpuPackGo = append(res[i].cpuPackGo, lastCPU)
					return err
				},
				func() error {
					if c.slow && !slowCLI {
						return nil
					}
					d, err := sh(c.cliC, "SRC="+payload, "OUT="+cliOut)
					res[i].packCLI = append(res[i].packCLI, d)
					res[i].cpuPackCLI = append(res[i].cpuPackCLI, lastCPU)
					return err
				},
			}
			for _, s := range benchkit.Rotate(steps, rep) {
				if err := s(); err != nil {
					return fmt.Errorf("%s pack: %w", c.name, err)
				}
			}
			sizes[i] = [2]int64{benchkit.FileSize(goOut), benchkit.FileSize(cliOut)}
			unSteps := []func() error{
				func() error {
					d, err := fresh()
					if err != nil {
						return err
					}
					t, err := timed("unpack", goOut, d)
					res[i].unGo = append(res[i].unGo, t)
					res[i].cpuUnGo = append(res[i].cpuUnGo, lastCPU)
					return err
				},
				func() error {
					d, err := fresh()
					if err != nil {
						return err
					}
					// The same bytes as ours: this compares extractors.
					t, err := sh(c.cliX, "IN="+goOut, "DST="+d)
					res[i].unCLI = append(res[i].unCLI, t)
					res[i].cpuUnCLI = append(res[i].cpuUnCLI, lastCPU)
					return err
				},
			}
			for _, s := range benchkit.Rotate(unSteps, rep) {
				if err := s(); err != nil {
					return fmt.Errorf("%s unpack: %w", c.name, err)
				}
			}
			if _, err := exec.LookPath("busybox"); err == nil && c.bbX != "" {
				d, err := fresh()
				if err != nil {
					return err
				}
				t, err := sh(c.bbX, "IN="+goOut, "DST="+d)
				if err != nil {
					return fmt.Errorf("%s busybox unpack: %w", c.name, err)
				}
				res[i].unBB = append(res[i].unBB, t)
			}
			fmt.Fprintf(os.Stderr, "rep %d %-8s pack go %6.2fs cli %6.2fs  unpack go %6.2fs cli %6.2fs\n", rep+1, c.name,
				last(res[i].packGo), last(res[i].packCLI), last(res[i].unGo), last(res[i].unCLI))
		}
	}
	os.RemoveAll(dst)

	fmt.Printf("\nunpack: both sides extract the archive our Pack wrote (the same bytes); cli = zstd -d | tar -x, tar -xz, tar -xJ\n")
	fmt.Printf("%-8s | %9s %9s | %8s %8s %6s | %8s %8s %6s | %7s %7s | %s\n", "format", "ratio go", "ratio cli",
		"pack go", "cli", "go/cli", "unpk go", "cli", "go/cli", "cpu pk", "cpu un", "runs")
	fmt.Println(strings.Repeat("-", 118))
	for i, c := range cfgs {
		inBytes := inBytes
		if c.slow {
			inBytes = slowBytes
			c.name += "*"
		}
		r := res[i]
		pg, pc, ug, uc := median(r.packGo), median(r.packCLI), median(r.unGo), median(r.unCLI)
		cpuUn := median(r.cpuUnGo).Seconds() / median(r.cpuUnCLI).Seconds()
		if len(r.packCLI) == 0 {
			fmt.Printf("%-8s | %9.3f %9s | %7.2fs %8s %6s | %7.2fs %7.2fs %6.2f | %7s %7.2f | %d\n", c.name,
				float64(inBytes)/float64(sizes[i][0]), "-", pg.Seconds(), "-", "-", ug.Seconds(), uc.Seconds(), ug.Seconds()/uc.Seconds(), "-", cpuUn, len(r.packGo))
			continue
		}
		fmt.Printf("%-8s | %9.3f %9.3f | %7.2fs %7.2fs %6.2f | %7.2fs %7.2fs %6.2f | %7.2f %7.2f | %d\n", c.name,
			float64(inBytes)/float64(sizes[i][0]), float64(inBytes)/float64(sizes[i][1]),
			pg.Seconds(), pc.Seconds(), pg.Seconds()/pc.Seconds(), ug.Seconds(), uc.Seconds(), ug.Seconds()/uc.Seconds(),
			median(r.cpuPackGo).Seconds()/median(r.cpuPackCLI).Seconds(), cpuUn, len(r.packGo))
	}
	fmt.Println("* on the small payload, one run; cpu pk/un = CPU time (user+sys, children included) go/cli, medians")
	if d := slices.IndexFunc(cfgs, func(c config) bool { return c.name == "zstd-3" }); d >= 0 {
		def := res[d]
		fmt.Printf("\ntarget 1: fec-pack (Pack, zstd default) / (tar -c | zstd -T0 -3) time = %.2f (target <= 1.0), CPU %.2f; size go/cli = %.3f (target within 3%%)\n",
			median(def.packGo).Seconds()/median(def.packCLI).Seconds(), median(def.cpuPackGo).Seconds()/median(def.cpuPackCLI).Seconds(),
			float64(sizes[d][0])/float64(sizes[d][1]))
		fmt.Printf("target 2: Stage+Commit / (zstd -d | tar -x) time = %.2f (target <= 1.3)\n",
			median(def.unGo).Seconds()/median(def.unCLI).Seconds())
	}
	fmt.Printf("load average at the end: %s", func() string { b, _ := os.ReadFile("/proc/loadavg"); return string(b) }())
	for i, c := range cfgs {
		if len(res[i].unBB) > 0 {
			fmt.Printf("busybox tar unpack of our %s archive: %.2fs (GNU tar %.2fs, ours %.2fs)\n", c.name,
				median(res[i].unBB).Seconds(), median(res[i].unCLI).Seconds(), median(res[i].unGo).Seconds())
		}
	}
	fmt.Printf("input %d bytes; sizes (go, cli):", inBytes)
	for i, c := range cfgs {
		fmt.Printf(" %s %d/%d", c.name, sizes[i][0], sizes[i][1])
	}
	fmt.Println()

	if packprofile != "" {
		if _, err := timed("pack", string(index.FormatZstd), "0", payload, filepath.Join(arch, "profiled.tar.zst"), packprofile); err != nil {
			return err
		}
		fmt.Println("pack cpu profile:", packprofile)
	}
	if cpuprofile != "" {
		d, err := fresh()
		if err != nil {
			return err
		}
		if _, err := timed("unpack", filepath.Join(arch, "go-zstd-3.tar.zst"), d, cpuprofile); err != nil {
			return err
		}
		os.RemoveAll(dst)
		fmt.Println("cpu profile:", cpuprofile)
	}
	return nil
}

func last(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	return d[len(d)-1].Seconds()
}

var median = benchkit.Median

// buildPayload assembles (or reuses) a staged install tree: real ELF
// executables and shared libraries (what FECs mostly receive) and many small
// XML FESA instance files.
func buildPayload(out string, quick bool) (dir string, bytes int64, files int, err error) {
	budget, xmlFiles := int64(200<<20), 4000
	name := "payload"
	if quick {
		budget, xmlFiles, name = 60<<20, 1000, "payload-quick"
	}
	dir = filepath.Join(out, name)
	stamp := filepath.Join(out, name+".done")
	if _, err := os.Stat(stamp); err != nil {
		os.RemoveAll(dir)
		if err := fillPayload(dir, budget, xmlFiles); err != nil {
			return "", 0, 0, err
		}
		if err := os.WriteFile(stamp, nil, 0o644); err != nil {
			return "", 0, 0, err
		}
	}
	files, bytes, err = benchkit.DirStats(dir)
	return dir, bytes, files, err
}

func fillPayload(dir string, budget int64, xmlFiles int) error {
	type src struct {
		glob  string
		share float64
		sub   string
	}
	sources := []src{
		{"/usr/local/go/pkg/tool/*/*", 0.15, "bin"},
		{"/usr/bin/*", 0.30, "bin"},
		{"/usr/lib/x86_64-linux-gnu/*.so*", 0.45, "lib"},
	}
	for _, s := range sources {
		matches, _ := filepath.Glob(s.glob)
		sort.Strings(matches)
		limit := int64(float64(budget) * s.share)
		var used int64
		for _, m := range matches {
			fi, err := os.Lstat(m)
			if err != nil || !fi.Mode().IsRegular() || fi.Size() > 40<<20 || used+fi.Size() > limit {
				continue
			}
			if !benchkit.IsELF(m) {
				continue
			}
			dst := filepath.Join(dir, s.sub, filepath.Base(m))
			if _, err := os.Lstat(dst); err == nil {
				continue
			}
			if err := benchkit.CopyFile(m, dst, 0o755); err != nil {
				return err
			}
			used += fi.Size()
		}
	}
	// Library symlinks, as installed trees have them.
	libs, _ := filepath.Glob(filepath.Join(dir, "lib", "*.so.*"))
	for _, l := range libs {
		base := filepath.Base(l)
		link := filepath.Join(dir, "lib", base[:strings.Index(base, ".so")+3])
		if _, err := os.Lstat(link); err != nil {
			os.Symlink(base, link)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < xmlFiles; i++ {
		p := filepath.Join(dir, "instances", fmt.Sprintf("dev%02d", i%40), fmt.Sprintf("Bench_DU.fec%04d.instance", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, fesaInstance(rng, i), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fesaInstance writes an XML device instance file like those FESA classes
// deploy: repetitive structure, names, and numbers that differ.
func fesaInstance(rng *rand.Rand, i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<instantiation-unit xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:noNamespaceSchemaLocation=\"../../../xml/DeploymentUnit.xsd\">\n")
	fmt.Fprintf(&b, "  <information>\n    <class-name>Bench</class-name>\n    <class-version>1.0.%d</class-version>\n    <deploy-unit-name>Bench_DU</deploy-unit-name>\n    <fec-name>fec%04d</fec-name>\n  </information>\n", i%7, i)
	devices := 2 + rng.Intn(6)
	for d := 0; d < devices; d++ {
		fmt.Fprintf(&b, "  <device-instance name=\"BENCH.DEV%04d.%d\" timing-domain=\"SIS18\" accelerator=\"SIS18\">\n    <configuration>\n", i, d)
		for f := 0; f < 10+rng.Intn(25); f++ {
			fmt.Fprintf(&b, "      <field name=\"param%d\"><value>%.6g</value><unit>%s</unit></field>\n", f, rng.Float64()*1000, []string{"A", "V", "mm", "Hz", "s"}[rng.Intn(5)])
		}
		fmt.Fprintf(&b, "    </configuration>\n    <events-mapping><event name=\"EVT_START_CYCLE\" id=\"%d\"/><event name=\"EVT_COMMAND\" id=\"%d\"/></events-mapping>\n  </device-instance>\n", rng.Intn(256), rng.Intn(256))
	}
	b.WriteString("</instantiation-unit>\n")
	return b.Bytes()
}
