// Package benchkit holds what the benchmarks under bench/ share: payloads
// built from this machine's ELF files plus generated XML, packing them into a
// web storage, nginx on a free loopback port, timing a command (wall, CPU,
// peak RSS), alternating the order of runs, and medians.
package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/nginxconf"
)

// Tool returns the path of a program on PATH, or in /usr/sbin (nginx is
// there and a non-root PATH often lacks it).
func Tool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := "/usr/sbin/" + name
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found", name)
	}
	return p, nil
}

// Sample is one timed run.
type Sample struct {
	Wall time.Duration
	CPU  time.Duration // user+system of the process and the children it waited for
	RSS  int64         // peak RSS in KiB of the largest single process (wait4)
}

// Time runs cmd and measures it. Without a cmd.Stderr, stderr is captured
// and returned in the error.
func Time(cmd *exec.Cmd) (Sample, error) {
	var stderr strings.Builder
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	start := time.Now()
	err := cmd.Run()
	s := Sample{Wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		s.CPU = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru != nil {
			s.RSS = ru.Maxrss
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return s, nil
}

// Sync flushes dirty pages, so one run's writeback is not billed to the next.
func Sync() { syscall.Sync() }

// Rotate returns s rotated left by k (mod len(s)): run the steps of
// repetition k in Rotate(steps, k) so that no step always goes first.
func Rotate[T any](s []T, k int) []T {
	k %= len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}

// Median returns the median of ds (the upper one for an even count), 0 for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// Ratio returns a/b.
func Ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// Secs formats d as seconds with two decimals, "1.23s".
func Secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// MB returns n bytes in (decimal) megabytes.
func MB(n int64) float64 { return float64(n) / 1e6 }

// FileSize returns the size of p, -1 if it cannot be stat'ed.
func FileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// DirStats counts the regular files below dir and their bytes.
func DirStats(dir string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			bytes += fi.Size()
			files++
		}
		return nil
	})
	return files, bytes, err
}

// FreshDir makes p an empty directory.
func FreshDir(p string) error {
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}

// IsELF reports whether p starts with the ELF magic.
func IsELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var m [4]byte
	_, err = io.ReadFull(f, m[:])
	return err == nil && string(m[:]) == "\x7fELF"
}

// CopyFile copies src to dst (creating dst's directory) with mode perm plus
// owner write.
func CopyFile(src, dst string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}

// TreeNames are the six install trees of the boot benchmarks' payload.
var TreeNames = []string{"Tools_DU", "Libs1_DU", "Libs2_DU", "Libs3_DU", "Bin_DU", "Instances_DU"}

// BuildTrees fills dir/<tree> for TreeNames, once per size (dir/.complete
// holds the size of a finished payload): five trees of about perTreeMB MB of
// ELF executables and shared libraries copied from this machine, and one of
// many small XML instance files, as FESA instance files are.
//
// Each tree takes the machine's ELF files (at most 8 MB each) that fit in
// what is left of its budget, files no other tree has taken first; on a
// machine with fewer ELF bytes than five trees need, later trees reuse files
// of earlier ones (never twice in one tree, so each archive compresses as a
// real install tree would). It fails only when the machine's ELF files
// cannot fill even one tree.
func BuildTrees(dir string, perTreeMB int64) ([]string, error) {
	names := TreeNames
	if perTreeMB <= 0 {
		return nil, fmt.Errorf("tree size %d MB: must be positive", perTreeMB)
	}
	marker := filepath.Join(dir, ".complete")
	stamp := fmt.Sprintf("tree-mb=%d\n", perTreeMB)
	if b, err := os.ReadFile(marker); err == nil && string(b) == stamp {
		return names, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	limit := perTreeMB << 20
	files := machineELFFiles()
	used := map[string]bool{}
	for t := 0; t < 5; t++ {
		var size int64
		inTree := map[string]bool{}
		// Pass 0: files no tree has taken; pass 1: files of earlier trees.
		for pass := 0; pass < 2 && size < limit*9/10; pass++ {
			for _, f := range files {
				if inTree[f.path] || (pass == 0 && used[f.path]) || size+f.size > limit {
					continue
				}
				if err := CopyFile(f.path, filepath.Join(dir, names[t], strings.TrimPrefix(f.path, "/")), f.mode); err != nil {
					continue // unreadable: take the next one
				}
				inTree[f.path], used[f.path] = true, true
				size += f.size
			}
		}
		if size < limit*9/10 {
			return nil, fmt.Errorf("not enough ELF files on this machine to fill tree %s: %d of %d MB (use a smaller -tree-mb)", names[t], size>>20, perTreeMB)
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
	return names, os.WriteFile(marker, []byte(stamp), 0o644)
}

type elfFile struct {
	path string
	size int64
	mode fs.FileMode
}

// machineELFFiles is elfFiles, listed once per process.
var machineELFFiles = sync.OnceValue(elfFiles)

// elfFiles lists this machine's ELF executables and libraries of 1 byte to
// 8 MB, each once (the directories overlap), in a fixed order.
func elfFiles() []elfFile {
	var files []elfFile
	seen := map[string]bool{}
	for _, src := range []string{"/usr/local/go/pkg/tool", "/usr/local/go/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/gcc", "/usr/libexec", "/usr/bin", "/usr/sbin", "/usr/lib"} {
		filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || seen[p] {
				return nil
			}
			seen[p] = true
			fi, err := d.Info()
			if err != nil || fi.Size() == 0 || fi.Size() > 8<<20 || !IsELF(p) {
				return nil
			}
			files = append(files, elfFile{path: p, size: fi.Size(), mode: fi.Mode().Perm()})
			return nil
		})
	}
	return files
}

// ArchivePath is the storage path of version 1.0.0 of tree name, ending in
// suffix (e.g. ".tar.zst", "-x86_64.tar.gz").
func ArchivePath(name, suffix string) string {
	return "software/" + name + "/1.0.0/" + name + "-1.0.0" + suffix
}

// PackTree packs the tree src into the file dst, below opt/fesa/<name>/1.0.0,
// and returns the index entry for it (Path is dst relative to storage).
func PackTree(storage, dst, src, name string, f index.Format) (index.Entry, error) {
	p := filepath.Join(storage, dst)
	os.MkdirAll(filepath.Dir(p), 0o755)
	w, err := os.Create(p)
	if err != nil {
		return index.Entry{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	ps, err := archive.Pack(context.Background(), bw, src, archive.PackOptions{Format: f, Prefix: "opt/fesa/" + name + "/1.0.0"})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return index.Entry{}, fmt.Errorf("packing %s: %v", name, err)
	}
	return index.Entry{Kind: index.KindSoftware, Name: name, SHA256: ps.SHA256, Size: ps.Size,
		Path: dst, Format: f, Version: "1.0.0"}, nil
}

// WriteIndex writes ix as storage/fecs/<ix.FEC>/INDEX.
func WriteIndex(storage string, ix index.Index) error {
	data, err := ix.Marshal()
	if err != nil {
		return err
	}
	p := filepath.Join(storage, "fecs", ix.FEC, index.FileName)
	os.MkdirAll(filepath.Dir(p), 0o755)
	return os.WriteFile(p, data, 0o644)
}

// StartNginx serves root on a free loopback port, with its configuration,
// logs and temp files in dir (emptied first), and returns its URL and a stop
// function.
func StartNginx(dir, root string) (string, func(), error) {
	bin, err := Tool("nginx")
	if err != nil {
		return "", nil, err
	}
	if err := FreshDir(dir); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := nginxconf.Config(nginxconf.Options{Dir: dir, Port: port, Root: root})
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
