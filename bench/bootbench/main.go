// Command bootbench measures fec-boot against what the C tools do with the
// same work, side by side in one run. Run it from the repository root:
//
//	bench/boot.sh            # = go run ./bench/bootbench
//	go run ./bench/bootbench -reps 7 -roots /dev/shm,bench/out/_boot/roots
//
// It builds (once per -tree-mb, cached in the git-ignored bench/out/_boot/) a
// payload of six install trees, about 300 MB unpacked: ELF executables and
// shared libraries copied from /usr/local/go, /usr/lib and /usr/bin, and many
// small XML instance files. It packs them (every run, with the archive
// package as it is now) as zstd and gzip, lays out a web storage with an
// INDEX for FEC "benchz", serves it with nginx on 127.0.0.1, and then times,
// in an order that rotates with each repetition:
//
//   - fec-boot: a full boot into an empty root (zstd archives, --parallel 4),
//     and fec-boot again with nothing changed (the skip path);
//   - the pipelines: `curl -s URL | zstd -d | tar -x` for each of the same
//     six zstd archives, four at once (xargs -P 4: the parallelism fec-boot
//     uses), and right after them `sync -f ROOT` (syncfs of the root's
//     filesystem), timed on its own. fec-boot ends its install with the same
//     syncfs (its durability: a crash never leaves an install recorded that
//     is not on disk), so on a disk the fair comparison is pipelines + sync;
//     both are reported;
//   - on the first root only (issue 3's figures): the seed's sequential
//     `curl | tar -xzf -` loop over gzip archives, the same loop with zstd,
//     and the parts of "the limit": fetching the six archives to /dev/null,
//     decompressing them alone, and writing the tree from uncompressed tars,
//     each with fec-boot's parallelism. The limit is the slowest of the three.
//
// -roots names where the FEC roots go, comma-separated; by default tmpfs
// (/dev/shm, a diskless FEC unpacks into RAM) and a directory on the disk
// under -out. `sync` runs before every timed run except the `sync -f` that
// belongs to the pipelines before it.
//
// It prints medians, fec-boot's peak RSS (time(1) %M), and the ratios
// against the targets of issues 3 and 16. -cpuprofile FILE also boots once
// in this process (into the first root, with fec-boot's memory limit) under
// the CPU profiler. Needs nginx, curl, zstd, GNU tar and coreutils sync.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/bench/internal/benchkit"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/index"
)

const fecName = "benchz"

var (
	out        = flag.String("out", "bench/out/_boot", "work directory (payload, storage, roots); git-ignored, and the '_' keeps go's ./... patterns out of it")
	reps       = flag.Int("reps", 5, "repetitions (alternating)")
	parallel   = flag.Int("parallel", 4, "fec-boot --parallel, also the number of pipelines at once and the limit's parallelism")
	perTree    = flag.Int64("tree-mb", 48, "approximate unpacked size of each of the six trees, MB")
	roots      = flag.String("roots", "", "comma-separated directories the FEC roots are unpacked in (default: /dev/shm, a tmpfs as on a diskless FEC, and <out>/roots on the disk)")
	cpuprofile = flag.String("cpuprofile", "", "also boot once in this process under the CPU profiler and write the profile here")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bootbench:", err)
		os.Exit(1)
	}
}

// place is one filesystem the roots go to.
type place struct {
	label string // "tmpfs", "disk" (ext4), ...
	dir   string // .../fecdeploy-bootbench
}

// step is one timed method on one place.
type step struct {
	p      *place
	method string
}

func run() error {
	for _, tool := range []string{"nginx", "curl", "zstd", "tar", "sync"} {
		if _, err := benchkit.Tool(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install nginx curl zstd tar coreutils", tool)
		}
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	*out = abs
	places, err := makePlaces()
	if err != nil {
		return err
	}
	names, err := benchkit.BuildTrees(filepath.Join(*out, "payload"), *perTree)
	if err != nil {
		return err
	}
	if err := buildStorage(names); err != nil {
		return err
	}
	// Peak RSS through time(1): wait4's ru_maxrss of a child that this
	// (large, packing) process starts includes this process's own RSS at
	// the start, since Go starts children with vfork.
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		return fmt.Errorf("/usr/bin/time not found (apt-get install time): %v", err)
	}
	rssFile := filepath.Join(*out, "fec-boot.rss")
	bin := filepath.Join(*out, "fec-boot")
	if b, err := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/fec-boot").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/fec-boot: %v\n%s", err, b)
	}
	url, stop, err := benchkit.StartNginx(filepath.Join(*out, "nginx"), filepath.Join(*out, "storage"))
	if err != nil {
		return err
	}
	defer stop()

	var zURLs, gURLs, zFiles, tars []string
	for _, n := range names {
		zURLs = append(zURLs, url+"/"+archivePath(n, index.FormatZstd))
		gURLs = append(gURLs, url+"/"+archivePath(n, index.FormatGzip))
		zFiles = append(zFiles, filepath.Join(*out, "storage", archivePath(n, index.FormatZstd)))
		tars = append(tars, filepath.Join(*out, "tars", n+".tar"))
	}
	fresh := func(p *place, name string) (string, error) {
		d := filepath.Join(p.dir, name)
		return d, benchkit.FreshDir(d)
	}
	loop := func(urls []string, pipe string, root string) string {
		var b strings.Builder
		for _, u := range urls {
			fmt.Fprintf(&b, "curl -sf %q | %s -C %q || exit 1\n", u, pipe, root)
		}
		return b.String()
	}
	// par runs cmd once per argument, *parallel at once (xargs -P), with
	// the argument as $1 and root as $2; pipefail makes a failing curl or
	// zstd fail the run, and xargs exits non-zero when one does.
	par := func(cmd, root string, args []string) string {
		return fmt.Sprintf("printf '%%s\\n' %s | xargs -P %d -I{} bash -o pipefail -c %s _ {} %s",
			quoteAll(args), *parallel, quote(cmd), quote(root))
	}
	timeRun := func(argv []string, syncFirst bool) (benchkit.Sample, error) {
		if syncFirst {
			benchkit.Sync()
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout = io.Discard
		return benchkit.Time(cmd)
	}

	results := map[step][]benchkit.Sample{}
	var steps []step
	for i := range places {
		p := &places[i]
		steps = append(steps, step{p, "fec-boot"}, step{p, "pipelines"})
		if i == 0 {
			steps = append(steps, step{p, "gzip loop"}, step{p, "zstd loop"}, step{p, "fetch"}, step{p, "decompress"}, step{p, "write tree"})
		}
	}
	checked := map[*place]bool{}
	for rep := 0; rep < *reps; rep++ {
		// Rotate the order so no method always runs first after a cleanup.
		for _, s := range benchkit.Rotate(steps, rep) {
			var script string
			var argv []string
			var root string
			switch s.method {
			case "fec-boot":
				root, err = fresh(s.p, "fec-boot")
				argv = []string{timeBin, "-f", "%M", "-o", rssFile, bin, "--url", url, "--fec", fecName, "--root", root, "--parallel", fmt.Sprint(*parallel),
					"--start-jitter", "0", "--cmdline", "none", "--conf", os.DevNull}
			case "pipelines":
				root, err = fresh(s.p, "pipelines")
				script = par(`curl -sf "$1" | zstd -dcq | tar -xf - -C "$2"`, root, zURLs)
			case "gzip loop":
				root, err = fresh(s.p, "gzip")
				script = loop(gURLs, "tar -xzf -", root)
			case "zstd loop":
				root, err = fresh(s.p, "zstd")
				script = loop(zURLs, "zstd -dcq | tar -xf -", root)
			case "fetch":
				script = par(`curl -sf -o /dev/null "$1"`, "", zURLs)
			case "decompress":
				script = par(`zstd -dcq "$1" > /dev/null`, "", zFiles)
			case "write tree":
				root, err = fresh(s.p, "write")
				script = par(`tar -xf "$1" -C "$2"`, root, tars)
			}
			if err != nil {
				return err
			}
			if script != "" {
				argv = []string{"bash", "-o", "pipefail", "-c", script}
			}
			smp, err := timeRun(argv, true)
			if err != nil {
				return fmt.Errorf("%s on %s: %v", s.method, s.p.label, err)
			}
			smp.RSS = 0
			if s.method == "fec-boot" {
				smp.RSS = readRSS(rssFile)
			}
			results[s] = append(results[s], smp)
			switch s.method {
			case "fec-boot":
				// Second boot, nothing changed.
				smp, err := timeRun(argv, true)
				if err != nil {
					return fmt.Errorf("second boot on %s: %v", s.p.label, err)
				}
				smp.RSS = readRSS(rssFile)
				results[step{s.p, "fec-boot again"}] = append(results[step{s.p, "fec-boot again"}], smp)
			case "pipelines":
				// What fec-boot's syncfs does, right after (no sync before).
				smp, err := timeRun([]string{"sync", "-f", root}, false)
				if err != nil {
					return fmt.Errorf("sync -f on %s: %v", s.p.label, err)
				}
				results[step{s.p, "sync -f"}] = append(results[step{s.p, "sync -f"}], smp)
				if !checked[s.p] {
					// Both sides must have written the same tree.
					f1, b1, err1 := benchkit.DirStats(filepath.Join(s.p.dir, "fec-boot", "opt"))
					f2, b2, err2 := benchkit.DirStats(filepath.Join(root, "opt"))
					if results[step{s.p, "fec-boot"}] != nil {
						if err1 != nil || err2 != nil || f1 != f2 || b1 != b2 {
							return fmt.Errorf("on %s fec-boot wrote %d files (%d bytes), the pipelines %d files (%d bytes) (%v %v)", s.p.label, f1, b1, f2, b2, err1, err2)
						}
						checked[s.p] = true
					}
				}
			}
		}
		fmt.Fprintf(os.Stderr, "rep %d/%d done (load average %s)\n", rep+1, *reps, loadavg())
	}
	for _, p := range places {
		os.RemoveAll(p.dir)
	}

	if *cpuprofile != "" {
		if err := profileBoot(url, &places[0]); err != nil {
			return err
		}
	}
	report(places, names, results)
	return nil
}

// report prints the tables: per place every method's medians, then the
// targets.
func report(places []place, names []string, results map[step][]benchkit.Sample) {
	median := func(s step, cpu bool) time.Duration {
		var ds []time.Duration
		for _, x := range results[s] {
			if cpu {
				ds = append(ds, x.CPU)
			} else {
				ds = append(ds, x.Wall)
			}
		}
		return benchkit.Median(ds)
	}
	// sumMedian is the median over repetitions of a+b of the same repetition.
	sumMedian := func(a, b step, cpu bool) time.Duration {
		var ds []time.Duration
		for i := range results[a] {
			if cpu {
				ds = append(ds, results[a][i].CPU+results[b][i].CPU)
			} else {
				ds = append(ds, results[a][i].Wall+results[b][i].Wall)
			}
		}
		return benchkit.Median(ds)
	}
	_, unpacked, _ := benchkit.DirStats(filepath.Join(*out, "payload"))
	var zsize, gsize int64
	for _, n := range names {
		zsize += benchkit.FileSize(filepath.Join(*out, "storage", archivePath(n, index.FormatZstd)))
		gsize += benchkit.FileSize(filepath.Join(*out, "storage", archivePath(n, index.FormatGzip)))
	}
	secs, ratio, mb := benchkit.Secs, benchkit.Ratio, benchkit.MB
	var where []string
	for _, p := range places {
		where = append(where, p.label+" "+filepath.Dir(p.dir))
	}
	fmt.Printf("payload: 6 archives, %.0f MB unpacked; zstd %.0f MB, gzip %.0f MB; %d reps, medians; %d CPUs; fec-boot --parallel %d; roots: %s; load average at the end %s\n\n",
		mb(unpacked), mb(zsize), mb(gsize), *reps, runtime.NumCPU(), *parallel, strings.Join(where, ", "), loadavg())
	fmt.Println("| root | run | median wall | median CPU (user+sys) | peak RSS | all runs, wall |")
	fmt.Println("|---|---|---|---|---|---|")
	for i := range places {
		p := &places[i]
		for _, m := range []string{"fec-boot", "fec-boot again", "pipelines", "sync -f", "gzip loop", "zstd loop", "fetch", "decompress", "write tree"} {
			s := step{p, m}
			if results[s] == nil {
				continue
			}
			var all []string
			var rss int64
			for _, x := range results[s] {
				all = append(all, secs(x.Wall))
				rss = max(rss, x.RSS)
			}
			rssCol := ""
			if rss > 0 {
				rssCol = fmt.Sprintf("%.1f MB", float64(rss)/1024)
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", p.label, m, secs(median(s, false)), secs(median(s, true)), rssCol, strings.Join(all, " "))
		}
		fmt.Printf("| %s | pipelines + sync -f | %s | %s | | |\n", p.label,
			secs(sumMedian(step{p, "pipelines"}, step{p, "sync -f"}, false)), secs(sumMedian(step{p, "pipelines"}, step{p, "sync -f"}, true)))
	}
	first := &places[0]
	limits := make([]time.Duration, len(results[step{first, "fetch"}]))
	for i := range limits {
		limits[i] = max(results[step{first, "fetch"}][i].Wall, results[step{first, "decompress"}][i].Wall, results[step{first, "write tree"}][i].Wall)
	}
	limit := benchkit.Median(limits)
	fmt.Printf("| %s | limit (slowest of fetch, decompress, write tree) | %s | | | |\n\n", first.label, secs(limit))

	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Println("| target | root | measured (wall) | CPU ratio | |")
	fmt.Println("|---|---|---|---|---|")
	for i := range places {
		p := &places[i]
		fb, pl := step{p, "fec-boot"}, step{p, "pipelines"}
		r := ratio(median(fb, false), median(pl, false))
		rc := ratio(median(fb, true), median(pl, true))
		fmt.Printf("| fec-boot ≤ 1.0 × %d parallel `curl \\| zstd -d \\| tar -x` (no sync) | %s | %.2f × | %.2f × | %s |\n", *parallel, p.label, r, rc, verdict(r <= 1.0))
		rs := ratio(median(fb, false), sumMedian(pl, step{p, "sync -f"}, false))
		rsc := ratio(median(fb, true), sumMedian(pl, step{p, "sync -f"}, true))
		fmt.Printf("| fec-boot ≤ 1.0 × the same + sync -f (durable like fec-boot) | %s | %.2f × | %.2f × | %s |\n", p.label, rs, rsc, verdict(rs <= 1.0))
	}
	fb, again, gz := median(step{first, "fec-boot"}, false), median(step{first, "fec-boot again"}, false), median(step{first, "gzip loop"}, false)
	r1, r2, r3 := ratio(fb, gz), ratio(fb, limit), ratio(again, fb)
	fmt.Printf("| fec-boot ≤ 0.5 × sequential gzip loop | %s | %.2f × | %.2f × | %s |\n", first.label, r1,
		ratio(median(step{first, "fec-boot"}, true), median(step{first, "gzip loop"}, true)), verdict(r1 <= 0.5))
	fmt.Printf("| fec-boot ≤ 1.25 × limit | %s | %.2f × | | %s |\n", first.label, r2, verdict(r2 <= 1.25))
	fmt.Printf("| second boot < 5%% of a full boot | %s | %.1f %% | | %s |\n", first.label, 100*r3, verdict(r3 < 0.05))
	var peak int64
	for i := range places {
		for _, m := range []string{"fec-boot", "fec-boot again"} {
			for _, x := range results[step{&places[i], m}] {
				peak = max(peak, x.RSS)
			}
		}
	}
	fmt.Printf("| peak RSS < 64 MB | all | %.1f MB | | %s |\n", float64(peak)/1024, verdict(peak < 64*1024))
	fmt.Printf("| (zstd loop vs gzip loop) | %s | %.2f × | | |\n", first.label, ratio(median(step{first, "zstd loop"}, false), gz))
}

// makePlaces resolves -roots: each directory gets a fecdeploy-bootbench
// subdirectory, labelled by its filesystem type.
func makePlaces() ([]place, error) {
	dirs := strings.Split(*roots, ",")
	if *roots == "" {
		dirs = nil
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			dirs = append(dirs, "/dev/shm")
		}
		dirs = append(dirs, filepath.Join(*out, "roots"))
	}
	var ps []place
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("-roots: %v", err)
		}
		ps = append(ps, place{label: fsType(abs), dir: filepath.Join(abs, "fecdeploy-bootbench")})
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("-roots: no directory given")
	}
	for i := range ps {
		for j := range i {
			if ps[i].label == ps[j].label {
				ps[i].label += fmt.Sprint(i + 1)
			}
		}
	}
	return ps, nil
}

// fsType names the filesystem holding dir ("tmpfs", "ext4", ...), from
// /proc/self/mounts: the longest mount point that is a prefix of dir.
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "disk"
	}
	best, typ := "", "disk"
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ = mp, f[2]
		}
	}
	return typ
}

// readRSS reads the peak RSS in KiB that time(1) wrote (its last line).
func readRSS(p string) int64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	return n
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// profileBoot boots once in this process, as fec-boot does (same settings,
// same memory limit), with the CPU profiler on.
func profileBoot(url string, p *place) error {
	root := filepath.Join(p.dir, "profile")
	if err := benchkit.FreshDir(root); err != nil {
		return err
	}
	defer os.RemoveAll(p.dir)
	cfg, err := fec.ReadConfig(fec.Sources{Values: map[string]string{
		"url": url, "fec": fecName, "root": root, "parallel": fmt.Sprint(*parallel), "start_jitter": "0",
	}, ConfPath: os.DevNull, CmdlinePath: "none"})
	if err != nil {
		return err
	}
	f, err := os.Create(*cpuprofile)
	if err != nil {
		return err
	}
	defer f.Close()
	old := debug.SetMemoryLimit(fec.MemoryLimit)
	defer debug.SetMemoryLimit(old)
	benchkit.Sync()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	start := time.Now()
	_, err = fec.Boot(context.Background(), cfg)
	pprof.StopCPUProfile()
	if err != nil {
		return fmt.Errorf("profiled boot: %v", err)
	}
	fmt.Fprintf(os.Stderr, "profiled boot into %s: %s; CPU profile in %s\n", p.label, benchkit.Secs(time.Since(start)), *cpuprofile)
	return nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quote(a)
	}
	return strings.Join(q, " ")
}

func archivePath(name string, f index.Format) string {
	return benchkit.ArchivePath(name, f.Extension())
}

// buildStorage packs every tree as zstd and gzip (and an uncompressed tar
// for the write-tree limit) and writes the INDEX of FEC benchz. It packs on
// every run, so the archives are always what the archive package writes
// now (its settings decide the decoder's memory and speed at boot).
func buildStorage(names []string) error {
	st := filepath.Join(*out, "storage")
	if err := os.RemoveAll(st); err != nil {
		return err
	}
	ix := index.Index{FEC: fecName, Arch: "x86_64"}
	for _, n := range names {
		for _, f := range []index.Format{index.FormatZstd, index.FormatGzip} {
			e, err := benchkit.PackTree(st, archivePath(n, f), filepath.Join(*out, "payload", n), n, f)
			if err != nil {
				return err
			}
			if f == index.FormatZstd {
				ix.Entries = append(ix.Entries, e)
			}
		}
		tarPath := filepath.Join(*out, "tars", n+".tar")
		os.MkdirAll(filepath.Dir(tarPath), 0o755)
		cmd := exec.Command("sh", "-c", fmt.Sprintf("zstd -dcq %q > %q", filepath.Join(st, archivePath(n, index.FormatZstd)), tarPath))
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, b)
		}
	}
	return benchkit.WriteIndex(st, ix)
}
