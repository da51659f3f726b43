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
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/storage/index"
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
		if _, err := exec.LookPath(tool); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + tool); err2 != nil {
				return fmt.Errorf("%s not found: apt-get install nginx curl zstd tar", tool)
			}
		}
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	*out = abs
	names, err := buildPayload()
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
	url, stop, err := startNginx(filepath.Join(*out, "storage"))
	if err != nil {
		return err
	}
	defer stop()

	var zURLs, gURLs, zFiles, tars []string
	for _, n := range names {
		zURLs = append(zURLs, url+"/"+archivePath(n, archive.Zstd))
		gURLs = append(gURLs, url+"/"+archivePath(n, archive.Gzip))
		zFiles = append(zFiles, filepath.Join(*out, "storage", archivePath(n, archive.Zstd)))
		tars = append(tars, filepath.Join(*out, "tars", n+".tar"))
	}
	rootDir := *roots
	if rootDir == "" {
		rootDir = filepath.Join(*out, "roots")
	}
	rootDir = filepath.Join(rootDir, "fecdeploy-bootbench")
	fresh := func(name string) string {
		p := filepath.Join(rootDir, name)
		os.RemoveAll(p)
		os.MkdirAll(p, 0o755)
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

	type sample struct {
		d, cpu time.Duration
		rss    int64
	}
	results := map[string][]sample{}
	order := []string{"fec-boot", "gzip loop", "zstd loop", "fetch", "decompress", "write tree"}
	for rep := 0; rep < *reps; rep++ {
		// Rotate the order so no method always runs first after a cleanup.
		rot := append(append([]string(nil), order[rep%len(order):]...), order[:rep%len(order)]...)
		for _, m := range rot {
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
			syncFS()
			d, cpu, rss, err := timeRun(argv)
			if err != nil {
				return fmt.Errorf("%s: %v", m, err)
			}
			results[m] = append(results[m], sample{d, cpu, rss})
			if m == "fec-boot" {
				// Second boot, nothing changed.
				syncFS()
				d2, cpu2, rss2, err := timeRun(argv)
				if err != nil {
					return fmt.Errorf("second boot: %v", err)
				}
				results["fec-boot again"] = append(results["fec-boot again"], sample{d2, cpu2, rss2})
			}
		}
		fmt.Fprintf(os.Stderr, "rep %d/%d done\n", rep+1, *reps)
	}
	os.RemoveAll(rootDir)

	median := func(m string, cpu bool) time.Duration {
		var ds []time.Duration
		for _, s := range results[m] {
			if cpu {
				ds = append(ds, s.cpu)
			} else {
				ds = append(ds, s.d)
			}
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	med := func(m string) time.Duration { return median(m, false) }
	limits := make([]time.Duration, *reps)
	for i := range limits {
		limits[i] = max(results["fetch"][i].d, results["decompress"][i].d, results["write tree"][i].d)
	}
	sort.Slice(limits, func(i, j int) bool { return limits[i] < limits[j] })
	limit := limits[len(limits)/2]
	var peak int64
	for _, s := range append(results["fec-boot"], results["fec-boot again"]...) {
		peak = max(peak, s.rss)
	}
	var unpacked int64
	filepath.WalkDir(filepath.Join(*out, "payload"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				unpacked += fi.Size()
			}
		}
		return nil
	})
	var zsize, gsize int64
	for _, n := range names {
		zsize += fileSize(filepath.Join(*out, "storage", archivePath(n, archive.Zstd)))
		gsize += fileSize(filepath.Join(*out, "storage", archivePath(n, archive.Gzip)))
	}

	fb, again, gz := med("fec-boot"), med("fec-boot again"), med("gzip loop")
	fmt.Printf("payload: 6 archives, %.0f MB unpacked; zstd %.0f MB, gzip %.0f MB; %d reps, medians; %d CPUs; fec-boot --parallel %d; roots in %s\n\n",
		mb(unpacked), mb(zsize), mb(gsize), *reps, runtime.NumCPU(), *parallel, filepath.Dir(rootDir))
	fmt.Println("| run | median wall | median CPU (user+sys) | all runs, wall |")
	fmt.Println("|---|---|---|---|")
	for _, m := range []string{"fec-boot", "fec-boot again", "gzip loop", "zstd loop", "fetch", "decompress", "write tree"} {
		var all []string
		for _, s := range results[m] {
			all = append(all, secs(s.d))
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

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
func secs(d time.Duration) string      { return fmt.Sprintf("%.2fs", d.Seconds()) }
func mb(n int64) float64               { return float64(n) / 1e6 }

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// syncFS flushes dirty pages so one run's writeback is not billed to the next.
func syncFS() { syscall.Sync() }

// timeRun runs argv and returns wall time, CPU time (user+sys of it and its
// children) and peak RSS (KiB, the largest single process) from wait4.
func timeRun(argv []string) (time.Duration, time.Duration, int64, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, 0, 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var rss int64
	if ru != nil {
		rss = ru.Maxrss
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rss, nil
}

func archivePath(name string, f archive.Format) string {
	return fmt.Sprintf("software/%s/1.0.0/%s-1.0.0%s", name, name, f.Extension())
}

// buildPayload fills out/payload/<tree> with copies of real binaries and
// libraries and, for the last tree, generated XML instance files.
func buildPayload() ([]string, error) {
	names := []string{"Tools_DU", "Libs1_DU", "Libs2_DU", "Libs3_DU", "Bin_DU", "Instances_DU"}
	dir := filepath.Join(*out, "payload")
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return names, nil
	}
	os.RemoveAll(dir)
	limit := *perTree << 20
	var files []string
	for _, src := range []string{"/usr/local/go/pkg/tool", "/usr/local/go/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/gcc", "/usr/libexec", "/usr/bin", "/usr/sbin", "/usr/lib"} {
		filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if isELF(p) {
				files = append(files, p)
			}
			return nil
		})
	}
	seen := map[string]bool{}
	i := 0
	for t := 0; t < 5; t++ {
		var size int64
		for ; i < len(files); i++ {
			p := files[i]
			fi, err := os.Stat(p)
			if seen[p] || err != nil || fi.Size() > 8<<20 {
				continue
			}
			if size+fi.Size() > limit {
				break // this file starts the next tree
			}
			seen[p] = true
			dst := filepath.Join(dir, names[t], strings.TrimPrefix(p, "/"))
			if err := copyFile(p, dst, fi.Mode().Perm()); err != nil {
				continue
			}
			size += fi.Size()
		}
		if size < limit*9/10 {
			return nil, fmt.Errorf("not enough ELF files on this machine for tree %d (%d MB)", t, size>>20)
		}
	}
	// Instances: many small XML files, as FESA instance files are.
	inst := filepath.Join(dir, names[5])
	var size int64
	for n := 0; size < limit; n++ {
		var b strings.Builder
		fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\n<instance class=\"Class%d\" version=\"1.%d.0\">\n", n%97, n%13)
		for k := 0; k < 120+n%80; k++ {
			fmt.Fprintf(&b, "  <device name=\"DEV%05d_%02d\" timing=\"%d\" address=\"0x%08x\" gain=\"%d.%03d\" enabled=\"%t\"/>\n",
				n, k, (n*31+k)%1024, n*7919+k*104729, k%7, (n*k)%1000, (n+k)%3 != 0)
		}
		b.WriteString("</instance>\n")
		p := filepath.Join(inst, fmt.Sprintf("dev%03d", n%100), fmt.Sprintf("Instance%05d.instance", n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		size += int64(b.Len())
	}
	return names, os.WriteFile(marker, nil, 0o644)
}

func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var m [4]byte
	_, err = io.ReadFull(f, m[:])
	return err == nil && string(m[:]) == "\x7fELF"
}

func copyFile(src, dst string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
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
		src := filepath.Join(*out, "payload", n)
		prefix := "opt/fesa/" + n + "/1.0.0"
		for _, f := range []archive.Format{archive.Zstd, archive.Gzip} {
			p := filepath.Join(st, archivePath(n, f))
			os.MkdirAll(filepath.Dir(p), 0o755)
			w, err := os.Create(p)
			if err != nil {
				return err
			}
			bw := bufio.NewWriterSize(w, 1<<20)
			ps, err := archive.Pack(context.Background(), bw, src, archive.PackOptions{Format: f, Prefix: prefix})
			if err == nil {
				err = bw.Flush()
			}
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("packing %s: %v", n, err)
			}
			if f == archive.Zstd {
				ix.Entries = append(ix.Entries, index.Entry{Kind: index.KindSoftware, Name: n, SHA256: ps.SHA256, Size: ps.Size,
					Path: archivePath(n, f), Format: string(f), Version: "1.0.0"})
			}
		}
		tarPath := filepath.Join(*out, "tars", n+".tar")
		os.MkdirAll(filepath.Dir(tarPath), 0o755)
		cmd := exec.Command("sh", "-c", fmt.Sprintf("zstd -dcq %q > %q", filepath.Join(st, archivePath(n, archive.Zstd)), tarPath))
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, b)
		}
	}
	data, err := ix.Marshal()
	if err != nil {
		return err
	}
	p := filepath.Join(st, "fecs", fecName, index.FileName)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(marker, nil, 0o644)
}

// startNginx serves root on a free loopback port (config shaped like
// internal/testenv's) and returns its URL and a stop function.
func startNginx(root string) (string, func(), error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	dir := filepath.Join(*out, "nginx")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    default_type application/octet-stream;
    sendfile on;
    etag on;
    server {
        listen 127.0.0.1:%[3]d;
        root %[4]s;
        location / { limit_except GET { deny all; } }
    }
}
`, user, dir, port, root)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir+"/", "-g", "daemon off;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("nginx does not listen on %s", addr)
}

func defaultRoots() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}
