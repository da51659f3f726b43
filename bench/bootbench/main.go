// Command bootbench measures fec-boot against the seed's baseline: a shell
// loop of `curl -s URL | tar -xzf - -C root` over the same content as gzip
// archives, and the same loop with zstd. Run it from the repository root:
//
//	bench/boot.sh            # = go run ./bench/bootbench
//	go run ./bench/bootbench -reps 7 -out bench/out/_boot
//
// It builds (once, cached in the git-ignored bench/out/_boot/) a payload of six
// install trees, about 300 MB unpacked: ELF executables and shared libraries
// copied from /usr/local/go, /usr/lib and /usr/bin, and many small XML
// instance files. It packs them with the archive package as zstd and gzip,
// lays out a web storage with an INDEX for FEC "benchz", serves it with nginx
// on 127.0.0.1, and then, alternating in each repetition:
//
//   - fec-boot: a full boot into an empty root (zstd archives);
//   - fec-boot again with nothing changed (the skip path);
//   - the gzip loop and the zstd loop (sequential curl | tar);
//   - the limit's parts: fetching the six archives over loopback to /dev/null,
//     decompressing them alone (zstd -dc > /dev/null), and writing the tree
//     (tar -x of the uncompressed tars, from the page cache), each with the
//     same parallelism as fec-boot. The limit is the slowest of the three.
//
// The roots go to tmpfs (/dev/shm) by default, as on a diskless FEC that
// unpacks into RAM, and because the shared VM's disk makes file-creation
// timings swing by 3x between runs; -roots DIR puts them on a disk.
//
// It prints medians, fec-boot's peak RSS (wait4 rusage), and the ratios
// against the targets of issue 3. Needs nginx, curl, zstd, GNU tar.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/bench/internal/benchkit"
	"github.com/fair-acc/fecdeploy/index"
)

const fecName = "benchz"

var (
	out      = flag.String("out", "bench/out/_boot", "work directory (payload, storage, roots); git-ignored, and the '_' keeps go's ./... patterns out of it")
	reps     = flag.Int("reps", 5, "repetitions (alternating)")
	parallel = flag.Int("parallel", 4, "fec-boot --parallel, also used for the limit's parts")
	perTree  = flag.Int64("tree-mb", 48, "approximate unpacked size of each of the six trees, MB")
	roots    = flag.String("roots", defaultRoots(), "where the FEC roots are unpacked (default: tmpfs /dev/shm, as on a diskless FEC; else under -out)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bootbench:", err)
		os.Exit(1)
	}
}

func run() error {
	for _, tool := range []string{"nginx", "curl", "zstd", "tar"} {
		if _, err := benchkit.Tool(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install nginx curl zstd tar", tool)
		}
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	*out = abs
	names, err := benchkit.BuildTrees(filepath.Join(*out, "payload"), *perTree)
	if err != nil {
		return err
	}
	if err := buildStorage(names); err != nil {
		return err
	}
	bin := filepath.Join(*out, "fec-boot")
	if b, err := exec.Command("go", "build", "-o", bin, "./cmd/fec-boot").CombinedOutput(); err != nil {
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
	rootDir := *roots
	if rootDir == "" {
		rootDir = filepath.Join(*out, "roots")
	}
	rootDir = filepath.Join(rootDir, "fecdeploy-bootbench")
	fresh := func(name string) string {
		p := filepath.Join(rootDir, name)
		benchkit.FreshDir(p)
		return p
	}
	loop := func(urls []string, pipe string, root string) string {
		var b strings.Builder
		for _, u := range urls {
			fmt.Fprintf(&b, "curl -sf %q | %s -C %q || exit 1\n", u, pipe, root)
		}
		return b.String()
	}
	par := func(cmd string, args []string) string {
		// xargs -P gives the same parallelism fec-boot uses.
		return fmt.Sprintf("printf '%%s\\n' %s | xargs -P %d -I{} sh -c %q", quoteAll(args), *parallel, cmd)
	}
	timeRun := func(argv []string) (benchkit.Sample, error) {
		benchkit.Sync()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout = io.Discard
		return benchkit.Time(cmd)
	}

	results := map[string][]benchkit.Sample{}
	order := []string{"fec-boot", "gzip loop", "zstd loop", "fetch", "decompress", "write tree"}
	for rep := 0; rep < *reps; rep++ {
		// Rotate the order so no method always runs first after a cleanup.
		for _, m := range benchkit.Rotate(order, rep) {
			var script string
			var argv []string
			switch m {
			case "fec-boot":
				root := fresh("fec-boot")
				argv = []string{bin, "--url", url, "--fec", fecName, "--root", root, "--parallel", fmt.Sprint(*parallel),
					"--start-jitter", "0", "--cmdline", "none", "--conf", os.DevNull}
			case "gzip loop":
				script = loop(gURLs, "tar -xzf -", fresh("gzip"))
			case "zstd loop":
				script = loop(zURLs, "zstd -dcq | tar -xf -", fresh("zstd"))
			case "fetch":
				script = par("curl -sf -o /dev/null {}", zURLs)
			case "decompress":
				script = par("zstd -dcq {} > /dev/null", zFiles)
			case "write tree":
				root := fresh("write")
				script = par(fmt.Sprintf("tar -xf {} -C %q", root), tars)
			}
			if script != "" {
				argv = []string{"bash", "-c", "set -o pipefail\n" + script}
			}
			s, err := timeRun(argv)
			if err != nil {
				return fmt.Errorf("%s: %v", m, err)
			}
			results[m] = append(results[m], s)
			if m == "fec-boot" {
				// Second boot, nothing changed.
				s, err := timeRun(argv)
				if err != nil {
					return fmt.Errorf("second boot: %v", err)
				}
				results["fec-boot again"] = append(results["fec-boot again"], s)
			}
		}
		fmt.Fprintf(os.Stderr, "rep %d/%d done\n", rep+1, *reps)
	}
	os.RemoveAll(rootDir)

	median := func(m string, cpu bool) time.Duration {
		var ds []time.Duration
		for _, s := range results[m] {
			if cpu {
				ds = append(ds, s.CPU)
			} else {
				ds = append(ds, s.Wall)
			}
		}
		return benchkit.Median(ds)
	}
	med := func(m string) time.Duration { return median(m, false) }
	limits := make([]time.Duration, *reps)
	for i := range limits {
		limits[i] = max(results["fetch"][i].Wall, results["decompress"][i].Wall, results["write tree"][i].Wall)
	}
	limit := benchkit.Median(limits)
	var peak int64
	for _, s := range append(results["fec-boot"], results["fec-boot again"]...) {
		peak = max(peak, s.RSS)
	}
	_, unpacked, _ := benchkit.DirStats(filepath.Join(*out, "payload"))
	var zsize, gsize int64
	for _, n := range names {
		zsize += benchkit.FileSize(filepath.Join(*out, "storage", archivePath(n, index.FormatZstd)))
		gsize += benchkit.FileSize(filepath.Join(*out, "storage", archivePath(n, index.FormatGzip)))
	}

	secs, ratio, mb := benchkit.Secs, benchkit.Ratio, benchkit.MB
	fb, again, gz := med("fec-boot"), med("fec-boot again"), med("gzip loop")
	fmt.Printf("payload: 6 archives, %.0f MB unpacked; zstd %.0f MB, gzip %.0f MB; %d reps, medians; %d CPUs; fec-boot --parallel %d; roots in %s\n\n",
		mb(unpacked), mb(zsize), mb(gsize), *reps, runtime.NumCPU(), *parallel, filepath.Dir(rootDir))
	fmt.Println("| run | median wall | median CPU (user+sys) | all runs, wall |")
	fmt.Println("|---|---|---|---|")
	for _, m := range []string{"fec-boot", "fec-boot again", "gzip loop", "zstd loop", "fetch", "decompress", "write tree"} {
		var all []string
		for _, s := range results[m] {
			all = append(all, secs(s.Wall))
		}
		fmt.Printf("| %s | %s | %s | %s |\n", m, secs(med(m)), secs(median(m, true)), strings.Join(all, " "))
	}
	fmt.Printf("| limit (slowest of fetch, decompress, write tree) | %s | | |\n\n", secs(limit))
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	r1, r2, r3 := ratio(fb, gz), ratio(fb, limit), ratio(again, fb)
	fmt.Println("| target | measured | |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| fec-boot ≤ 0.5 × gzip loop | %.2f × | %s |\n", r1, verdict(r1 <= 0.5))
	fmt.Printf("| fec-boot ≤ 1.25 × limit | %.2f × | %s |\n", r2, verdict(r2 <= 1.25))
	fmt.Printf("| second boot < 5%% of a full boot | %.1f %% | %s |\n", 100*r3, verdict(r3 < 0.05))
	fmt.Printf("| peak RSS < 64 MB | %.1f MB | %s |\n", float64(peak)/1024, verdict(peak < 64*1024))
	fmt.Printf("| (zstd loop vs gzip loop) | %.2f × | |\n", ratio(med("zstd loop"), gz))
	fmt.Printf("| (CPU: fec-boot vs gzip loop, vs zstd loop) | %.2f ×, %.2f × | |\n",
		ratio(median("fec-boot", true), median("gzip loop", true)), ratio(median("fec-boot", true), median("zstd loop", true)))
	return nil
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func archivePath(name string, f index.Format) string {
	return benchkit.ArchivePath(name, f.Extension())
}

// buildStorage packs every tree as zstd and gzip (and an uncompressed tar
// for the write-tree limit) and writes the INDEX of FEC benchz.
func buildStorage(names []string) error {
	st := filepath.Join(*out, "storage")
	marker := filepath.Join(st, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	os.RemoveAll(st)
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
	if err := benchkit.WriteIndex(st, ix); err != nil {
		return err
	}
	return os.WriteFile(marker, nil, 0o644)
}

func defaultRoots() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}
