// Command boot-shell measures fec-boot.sh, the busybox shell client, against
// the bare loop it is built from: `wget -q -O- URL | tar -xzf - -C root` for
// each archive. Both run under `busybox sh` with a PATH of busybox applets
// only, against the same six gzip archives served by nginx on 127.0.0.1.
// Run it from the repository root:
//
//	bench/boot-shell.sh            # = go run ./bench/boot-shell
//	go run ./bench/boot-shell -reps 7
//
// The payload (built once into the git-ignored bench/out/boot-shell/) follows
// the Go client's benchmark (bench/bootbench): five trees of ELF executables
// and shared libraries copied from this machine and one of many small XML
// instance files, about 300 MB unpacked, packed with the archive package as
// gzip. Each repetition runs both, in alternating order, into fresh roots on
// tmpfs (/dev/shm, as on a diskless FEC; -roots DIR to change), and checks
// that both produced the same number of files. It prints the medians and the
// ratio against the target of issue 4 (<= 1.2), and the median of a second
// fec-boot.sh run with nothing changed (the skip path).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/bench/internal/benchkit"
	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/index"
	bbox "github.com/fair-acc/fecdeploy/internal/busybox"
)

const fecName = "benchsh"

var (
	out     = flag.String("out", "bench/out/boot-shell", "work directory (payload, storage); git-ignored")
	reps    = flag.Int("reps", 5, "repetitions (alternating)")
	perTree = flag.Int64("tree-mb", 48, "approximate unpacked size of each of the six trees, MB")
	roots   = flag.String("roots", "/dev/shm", "where the FEC roots are unpacked (tmpfs by default)")
	withSSL = flag.Bool("openssl", false, "put the host's openssl on the FEC's PATH too (fec-boot.sh hashes with it)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "boot-shell:", err)
		os.Exit(1)
	}
}

func run() error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox not found: apt-get install busybox")
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
	urls, err := buildStorage(names)
	if err != nil {
		return err
	}
	base, stop, err := benchkit.StartNginx(filepath.Join(*out, "nginx"), filepath.Join(*out, "storage"))
	if err != nil {
		return err
	}
	defer stop()

	// A PATH with busybox applets only, and the script as embedded.
	bin := filepath.Join(*out, "busybox-bin")
	os.RemoveAll(bin)
	if err := bbox.LinkApplets(bb, bin); err != nil {
		return err
	}
	if *withSSL {
		p, err := exec.LookPath("openssl")
		if err != nil {
			return fmt.Errorf("-openssl: %v", err)
		}
		os.Remove(filepath.Join(bin, "openssl"))
		if err := os.Symlink(p, filepath.Join(bin, "openssl")); err != nil {
			return err
		}
	}
	script := filepath.Join(*out, "fec-boot.sh")
	if err := os.WriteFile(script, client.Script, 0o755); err != nil {
		return err
	}
	loop := filepath.Join(*out, "loop.sh")
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# the baseline: one wget | tar per archive\nroot=$1\n")
	for _, u := range urls {
		fmt.Fprintf(&b, "wget -q -O- %s/%s | tar -xzf - -C \"$root\" || exit 1\n", base, u)
	}
	if err := os.WriteFile(loop, []byte(b.String()), 0o755); err != nil {
		return err
	}
	env := []string{"PATH=" + bin}
	rootDir, err := os.MkdirTemp(*roots, "fecdeploy-boot-shell-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(rootDir)

	var tLoop, tShell, tSkip, cLoop, cShell []time.Duration
	timeRun := func(argv ...string) (benchkit.Sample, error) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		return benchkit.Time(cmd)
	}
	for r := 0; r < *reps; r++ {
		rl, rs := filepath.Join(rootDir, "loop"), filepath.Join(rootDir, "shell")
		benchkit.FreshDir(rl)
		benchkit.FreshDir(rs)
		shellArgs := []string{bb, "sh", script, "--url", base, "--fec", fecName, "--root", rs, "--conf", "/dev/null",
			"--cmdline", "none", "--start-jitter", "0", "--retries", "0"}
		runLoop := func() error {
			s, err := timeRun(bb, "sh", loop, rl)
			tLoop, cLoop = append(tLoop, s.Wall), append(cLoop, s.CPU)
			return err
		}
		runShell := func() error {
			s, err := timeRun(shellArgs...)
			tShell, cShell = append(tShell, s.Wall), append(cShell, s.CPU)
			return err
		}
		for _, f := range benchkit.Rotate([]func() error{runLoop, runShell}, r) {
			benchkit.Sync()
			if err := f(); err != nil {
				return err
			}
		}
		skip, err := timeRun(shellArgs...)
		if err != nil {
			return err
		}
		d := skip.Wall
		tSkip = append(tSkip, d)
		nl, ns := countFiles(filepath.Join(rl, "opt")), countFiles(filepath.Join(rs, "opt"))
		if nl != ns || nl == 0 {
			return fmt.Errorf("the loop unpacked %d files, fec-boot.sh %d", nl, ns)
		}
		fmt.Printf("rep %d: loop %s (cpu %s), fec-boot.sh %s (cpu %s, %d files), again (skip) %s\n",
			r+1, secs(tLoop[r]), secs(cLoop[r]), secs(tShell[r]), secs(cShell[r]), ns, secs(d))
	}
	ml, ms, mk := median(tLoop), median(tShell), median(tSkip)
	var size int64
	for _, u := range urls {
		size += benchkit.FileSize(filepath.Join(*out, "storage", u))
	}
	path := "busybox only"
	if *withSSL {
		path = "busybox + openssl"
	}
	fmt.Printf("\n%d archives, %.0f MB gzip, roots on %s, PATH %s, %d reps (alternating)\n", len(urls), float64(size)/1e6, *roots, path, *reps)
	fmt.Printf("median  wget|tar loop %s   fec-boot.sh %s   ratio %.2f (target <= 1.20)   skip path %s\n",
		secs(ml), secs(ms), float64(ms)/float64(ml), secs(mk))
	fmt.Printf("cpu     wget|tar loop %s   fec-boot.sh %s   ratio %.2f (user+system, all processes)\n",
		secs(median(cLoop)), secs(median(cShell)), float64(median(cShell))/float64(median(cLoop)))
	return nil
}

var (
	median = benchkit.Median
	secs   = benchkit.Secs
)

// countFiles counts the regular files below dir.
func countFiles(dir string) int {
	n, _, _ := benchkit.DirStats(dir)
	return n
}

// buildStorage packs the trees as gzip and writes the INDEX; it returns the
// archives' storage paths in INDEX order.
func buildStorage(names []string) ([]string, error) {
	st := filepath.Join(*out, "storage")
	ix := index.Index{FEC: fecName, Arch: "x86_64"}
	var paths []string
	marker := filepath.Join(st, ".complete")
	_, done := os.Stat(marker)
	for _, n := range names {
		p := benchkit.ArchivePath(n, "-x86_64.tar.gz")
		paths = append(paths, p)
		if done == nil {
			continue
		}
		e, err := benchkit.PackTree(st, p, filepath.Join(*out, "payload", n), n, index.FormatGzip)
		if err != nil {
			return nil, err
		}
		ix.Entries = append(ix.Entries, e)
	}
	if done == nil {
		return paths, nil
	}
	if err := benchkit.WriteIndex(st, ix); err != nil {
		return nil, err
	}
	return paths, os.WriteFile(marker, nil, 0o644)
}
