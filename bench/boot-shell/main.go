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
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/storage/index"
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
	names, err := buildPayload()
	if err != nil {
		return err
	}
	urls, err := buildStorage(names)
	if err != nil {
		return err
	}
	base, stop, err := startNginx(filepath.Join(*out, "storage"))
	if err != nil {
		return err
	}
	defer stop()

	// A PATH with busybox applets only, and the script as embedded.
	bin := filepath.Join(*out, "busybox-bin")
	os.RemoveAll(bin)
	os.MkdirAll(bin, 0o755)
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(list)) {
		os.Symlink(bb, filepath.Join(bin, a))
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
	for r := 0; r < *reps; r++ {
		rl, rs := filepath.Join(rootDir, "loop"), filepath.Join(rootDir, "shell")
		os.RemoveAll(rl)
		os.RemoveAll(rs)
		os.MkdirAll(rl, 0o755)
		os.MkdirAll(rs, 0o755)
		shellArgs := []string{bb, "sh", script, "--url", base, "--fec", fecName, "--root", rs, "--conf", "/dev/null",
			"--cmdline", "none", "--start-jitter", "0", "--retries", "0"}
		runLoop := func() error {
			d, err := timeRun(env, bb, "sh", loop, rl)
			tLoop, cLoop = append(tLoop, d), append(cLoop, cpu)
			return err
		}
		runShell := func() error {
			d, err := timeRun(env, shellArgs...)
			tShell, cShell = append(tShell, d), append(cShell, cpu)
			return err
		}
		first, second := runLoop, runShell
		if r%2 == 1 {
			first, second = runShell, runLoop
		}
		syscall.Sync()
		if err := first(); err != nil {
			return err
		}
		syscall.Sync()
		if err := second(); err != nil {
			return err
		}
		d, err := timeRun(env, shellArgs...)
		if err != nil {
			return err
		}
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
		size += fileSize(filepath.Join(*out, "storage", u))
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

// cpu collects the user+system time of the last timeRun (the process and
// every descendant it waited for).
var cpu time.Duration

func timeRun(env []string, argv ...string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return d, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return d, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// buildPayload makes the six install trees (as bench/bootbench does).
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
			if err == nil && d.Type().IsRegular() && isELF(p) {
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
				break
			}
			seen[p] = true
			if err := copyFile(p, filepath.Join(dir, names[t], strings.TrimPrefix(p, "/")), fi.Mode().Perm()); err != nil {
				continue
			}
			size += fi.Size()
		}
		if size < limit*9/10 {
			return nil, fmt.Errorf("not enough ELF files on this machine for tree %d (%d MB)", t, size>>20)
		}
	}
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
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
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
		p := "software/" + n + "/1.0.0/" + n + "-1.0.0-x86_64.tar.gz"
		paths = append(paths, p)
		if done == nil {
			continue
		}
		os.MkdirAll(filepath.Dir(filepath.Join(st, p)), 0o755)
		w, err := os.Create(filepath.Join(st, p))
		if err != nil {
			return nil, err
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		ps, err := archive.Pack(context.Background(), bw, filepath.Join(*out, "payload", n),
			archive.PackOptions{Format: archive.Gzip, Prefix: "opt/fesa/" + n + "/1.0.0"})
		if err == nil {
			err = bw.Flush()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("packing %s: %v", n, err)
		}
		ix.Entries = append(ix.Entries, index.Entry{Kind: index.KindSoftware, Name: n, SHA256: ps.SHA256, Size: ps.Size,
			Path: p, Format: index.FormatGzip, Version: "1.0.0"})
	}
	if done == nil {
		return paths, nil
	}
	data, err := ix.Marshal()
	if err != nil {
		return nil, err
	}
	p := filepath.Join(st, "fecs", fecName, index.FileName)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return nil, err
	}
	return paths, os.WriteFile(marker, nil, 0o644)
}

// startNginx serves root on a free loopback port and returns its URL and a stop function.
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
