// Command devbench measures a dev release to a FEC over loopback ssh
// (fec-pack -dev -to-fec: the archive copied to a temp name on the FEC,
// then `fec-boot install-archive` there: sha256 checked, staged, committed,
// flushed) against the baseline `scp` of the same archive plus `tar -x` on
// the other side, alternating in the same run. Target (issue 13): at most
// 1.2x the baseline (scp -O: the test sshd has no sftp subsystem). Run it
// from the repository root:
//
//	go run ./bench/devbench              # ~100 MB payload, 5 repetitions
//	go run ./bench/devbench -mb 40 -reps 3
//
// The payload is one deploy unit of about -mb MB unpacked: 85% ELF
// executables and libraries copied from this machine, 15% small XML
// instance files; packed once with zstd. The FEC is a
// private sshd on 127.0.0.1; its roots go to tmpfs (/dev/shm) when present,
// as on a diskless FEC. Needs sshd, ssh, scp, zstd and GNU tar.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/bench/internal/benchkit"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/publish"
)

var (
	out  = flag.String("out", "bench/out/_dev", "work directory (payload, archive); git-ignored")
	reps = flag.Int("reps", 5, "repetitions (alternating)")
	mb   = flag.Int64("mb", 100, "approximate unpacked size of the payload, MB")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devbench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	src := filepath.Join(abs, fmt.Sprintf("payload-%d", *mb))
	if err := buildPayload(src, *mb<<20); err != nil {
		return err
	}
	archive := filepath.Join(abs, "Bench_DU-dev.tar.zst")
	stats, err := publish.PackFile(ctx, archive, publish.Request{SourceDir: src, Prefix: "opt/fesa/Bench_DU/dev"})
	if err != nil {
		return err
	}
	fmt.Printf("payload: %d files, %.0f MB unpacked, archive %.0f MB (zstd)\n", stats.Files, benchkit.MB(stats.InputBytes), benchkit.MB(stats.Size))

	fecBoot := filepath.Join(abs, "fec-boot")
	if b, err := exec.Command("go", "build", "-o", fecBoot, "./cmd/fec-boot").CombinedOutput(); err != nil {
		return fmt.Errorf("building fec-boot: %v: %s", err, b)
	}
	sshDir, err := os.MkdirTemp("", "devbench-sshd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sshDir)
	port, err := freePort()
	if err != nil {
		return err
	}
	sshd, err := testenv.NewSSHD(sshDir, port, testenv.SSHDOptions{})
	if err != nil {
		return err
	}
	defer sshd.Stop()
	time.Sleep(500 * time.Millisecond)
	conf, err := sshd.WriteSSHConfig("benchfec")
	if err != nil {
		return err
	}
	rootsBase := abs
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		rootsBase = "/dev/shm"
	}
	work, err := os.MkdirTemp(rootsBase, "devbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ours, base := filepath.Join(work, "ours"), filepath.Join(work, "base")
	tmp := filepath.Join(work, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	ssh := publish.SSH{Host: "benchfec", ConfigFile: conf}
	req := publish.DevRequest{Request: publish.Request{Name: "Bench_DU", Prefix: "opt/fesa/Bench_DU/dev"}, SSH: ssh,
		Client: fecBoot + " --root " + ours, TempDir: tmp}

	var tOurs, tBase []time.Duration
	for i := 0; i < *reps; i++ {
		for _, which := range benchkit.Rotate([]string{"ours", "base"}, i) {
			for _, d := range []string{ours, base} {
				if err := os.RemoveAll(d); err != nil {
					return err
				}
			}
			benchkit.Sync()
			start := time.Now()
			switch which {
			case "ours":
				if o, err := publish.SendDev(ctx, archive, stats.SHA256, req); err != nil {
					return fmt.Errorf("dev release: %v: %s", err, o)
				}
				tOurs = append(tOurs, time.Since(start))
			case "base":
				dst := filepath.Join(tmp, "base.tar.zst")
				if o, err := exec.Command("scp", "-O", "-q", "-F", conf, archive, "benchfec:"+dst).CombinedOutput(); err != nil {
					return fmt.Errorf("scp: %v: %s", err, o)
				}
				cmd := fmt.Sprintf("mkdir -p %s && tar --zstd -xf %s -C %s && rm -f %s", base, dst, base, dst)
				if o, err := exec.Command("ssh", "-F", conf, "benchfec", cmd).CombinedOutput(); err != nil {
					return fmt.Errorf("ssh tar -x: %v: %s", err, o)
				}
				tBase = append(tBase, time.Since(start))
			}
		}
	}
	mo, mb := benchkit.Median(tOurs), benchkit.Median(tBase)
	fmt.Printf("dev release (fec-pack -dev -to-fec: ssh copy + fec-boot install-archive): median %s %v\n", benchkit.Secs(mo), tOurs)
	fmt.Printf("scp + ssh tar --zstd -x:                                          median %s %v\n", benchkit.Secs(mb), tBase)
	r := benchkit.Ratio(mo, mb)
	verdict := "(met)"
	if r > 1.2 {
		verdict = "(MISSED)"
	}
	fmt.Printf("ratio %.2f, target <= 1.2 %s\n", r, verdict)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// buildPayload fills dir once (dir/.complete marks it done).
func buildPayload(dir string, size int64) error {
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	os.RemoveAll(dir)
	elf := size * 85 / 100
	var n int64
	for _, root := range []string{"/usr/local/go/pkg/tool", "/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/bin", "/usr/sbin", "/usr/libexec"} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || n >= elf {
				return filepath.SkipDir
			}
			if !d.Type().IsRegular() || !benchkit.IsELF(p) {
				return nil
			}
			fi, err := d.Info()
			if err != nil || fi.Size() > 16<<20 {
				return nil
			}
			dst := filepath.Join(dir, "lib", strings.TrimPrefix(p, "/"))
			if _, err := os.Stat(dst); err == nil {
				return nil
			}
			if benchkit.CopyFile(p, dst, fi.Mode().Perm()) == nil {
				n += fi.Size()
			}
			return nil
		})
	}
	for i := 0; n < size; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\n<instance class=\"Class%d\">\n", i%97)
		for k := 0; k < 150; k++ {
			fmt.Fprintf(&b, "  <device name=\"DEV%05d_%02d\" timing=\"%d\" address=\"0x%08x\"/>\n", i, k, (i*31+k)%1024, i*7919+k*104729)
		}
		b.WriteString("</instance>\n")
		p := filepath.Join(dir, "instance", fmt.Sprintf("dev%02d", i%50), fmt.Sprintf("I%05d.instance", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return err
		}
		n += int64(b.Len())
	}
	return os.WriteFile(marker, nil, 0o644)
}
