// Command storm is the boot-storm benchmark (make bench-storm): N FECs boot
// at the same moment from one web storage, over shaped links, each in a
// network namespace of its own, each into a root of its own.
//
//	make bench-storm                       # = go run ./bench/storm (as root)
//	go run ./bench/storm -n 50 -shell 0.2 -proxies 2
//	go run ./bench/storm -cleanup          # remove namespaces a killed run left
//
// The network it builds (all names start with "fst-", addresses 10.77.0.0/16,
// nothing else is touched):
//
//	fst-srv (nginx origin, eth0 10.77.0.1, tbf -server-rate)
//	fst-p<k> (optional caching proxies, examples/nginx/caching-proxy.conf,
//	          eth0 10.77.0.1<k>, tbf -server-rate)
//	fst-sw  (a bridge joining everything; towards each FEC a tbf of -fec-rate)
//	fst-f<i> (one FEC: fec-boot, or fec-boot.sh under busybox for a -shell share)
//
// This kernel has tbf but no netem: links are rate-limited, not delayed.
// Every namespace is removed at the end, also on SIGINT/SIGTERM.
//
// It prints the total time against the bound (the bytes the busiest sender
// must send ÷ its uplink, or one FEC's bytes ÷ its link, whichever is
// longer), the slowest FEC, failures, retries seen in the access logs,
// bytes sent by the origin and the proxies, and the peak RSS of the clients.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/bench/internal/benchkit"
	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/index"
	bbox "github.com/fair-acc/fecdeploy/internal/busybox"
	"github.com/fair-acc/fecdeploy/internal/nginxconf"
)

const prefix = "fst-"

var (
	n          = flag.Int("n", 20, "FECs booting at once")
	shellShare = flag.Float64("shell", 0.2, "share of the FECs running fec-boot.sh under busybox (the rest run fec-boot)")
	proxies    = flag.Int("proxies", 0, "caching proxies between origin and FECs (0: FECs fetch from the origin)")
	serverRate = flag.String("server-rate", "1gbit", "uplink of the origin and of each proxy (tc rate)")
	fecRate    = flag.String("fec-rate", "100mbit", "link of each FEC (tc rate)")
	treeMB     = flag.Int64("tree-mb", 32, "approximate unpacked size of each payload tree, MB (this machine fills five ELF trees of 20-35 MB)")
	trees      = flag.Int("trees", 2, "payload trees per FEC: 1 ELF tree and the XML instance tree for 2, up to all six")
	jitter     = flag.Duration("jitter", 0, "start jitter of every client (0: all start at the same moment)")
	out        = flag.String("out", "bench/out/_storm", "work directory (payload, storage, roots, logs); git-ignored")
	cleanup    = flag.Bool("cleanup", false, "only remove namespaces named "+prefix+"* that an interrupted run left, then exit")
)

func main() {
	flag.Parse()
	if *cleanup {
		removeAll()
		return
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "storm: network namespaces need root")
		os.Exit(1)
	}
	removeAll() // a run killed with SIGKILL leaves its namespaces behind
	var env env
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "storm: %v: cleaning up\n", s)
		env.close()
		os.Exit(130)
	}()
	err := run(&env)
	env.close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

// env is what must be undone: processes started and namespaces created.
type env struct {
	mu    sync.Mutex
	procs []*exec.Cmd
	nss   []string
	done  bool
}

func (e *env) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return
	}
	e.done = true
	for _, c := range e.procs {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
	for i := len(e.nss) - 1; i >= 0; i-- {
		_ = exec.Command("ip", "netns", "del", e.nss[i]).Run()
	}
}

func (e *env) addNS(name string) error {
	e.mu.Lock()
	if e.done {
		e.mu.Unlock()
		return fmt.Errorf("interrupted")
	}
	e.nss = append(e.nss, name)
	e.mu.Unlock()
	return sh("ip", "netns", "add", name)
}

func (e *env) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return fmt.Errorf("interrupted")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.procs = append(e.procs, cmd)
	return nil
}

// removeAll deletes every namespace named fst-*.
func removeAll() {
	b, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			_ = exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
}

func sh(argv ...string) error {
	b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(b))
	}
	return nil
}

// bits parses a tc rate (e.g. 1gbit, 100mbit) into bit/s.
func bits(rate string) (float64, error) {
	r := strings.ToLower(rate)
	for _, u := range []struct {
		s string
		m float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if v, ok := strings.CutSuffix(r, u.s); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f * u.m, err
		}
	}
	return 0, fmt.Errorf("rate %q: want a number with gbit, mbit or kbit", rate)
}

// shape puts a tbf of rate on dev (egress) in namespace ns.
func shape(ns, dev, rate string) error {
	bps, err := bits(rate)
	if err != nil {
		return err
	}
	// The bucket holds at least 10 ms of the rate (a 250 Hz timer needs 4 ms).
	burst := max(int(bps/8/100), 64<<10)
	return sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
		"rate", rate, "burst", strconv.Itoa(burst), "latency", "50ms")
}

// link joins namespace ns to the bridge with a veth: eth0 (addr) in ns,
// swName in fst-sw; rate shapes ns's sending side when up, the FEC-facing
// side when down.
func link(ns, swName, addr, upRate, downRate string) error {
	sw := prefix + "sw"
	steps := [][]string{
		{"ip", "-n", sw, "link", "add", swName, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", sw, "link", "set", swName, "master", "br0", "up"},
		{"ip", "-n", ns, "addr", "add", addr + "/16", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := sh(s...); err != nil {
			return err
		}
	}
	if upRate != "" {
		if err := shape(ns, "eth0", upRate); err != nil {
			return err
		}
	}
	if downRate != "" {
		return shape(sw, swName, downRate)
	}
	return nil
}

func fecAddr(i int) string { return fmt.Sprintf("10.77.%d.%d", 1+i/250, 1+i%250) }

// result of one FEC's boot.
type result struct {
	fec   string
	shell bool
	code  int
	wall  time.Duration
	rss   int64
	out   string
}

func run(e *env) error {
	for _, tool := range []string{"ip", "tc", "nginx", "busybox", "zstd"} {
		if _, err := benchkit.Tool(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install iproute2 nginx busybox zstd", tool)
		}
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	*out = abs
	names, err := benchkit.BuildTrees(filepath.Join(*out, "payload"), *treeMB)
	if err != nil {
		return err
	}
	if *trees < len(names) {
		// The instance tree (many small files) always, ELF trees for the rest.
		names = append(append([]string{}, names[:max(0, *trees-1)]...), names[len(names)-1])
	}
	storage := filepath.Join(*out, "storage")
	payload, err := buildStorage(storage, names)
	if err != nil {
		return err
	}
	bin := filepath.Join(*out, "fec-boot")
	if b, err := exec.Command("go", "build", "-o", bin, "./cmd/fec-boot").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/fec-boot: %v\n%s", err, b)
	}
	bbDir, script, err := shellClient()
	if err != nil {
		return err
	}

	// The network.
	sw := prefix + "sw"
	if err := e.addNS(sw); err != nil {
		return err
	}
	for _, s := range [][]string{{"ip", "-n", sw, "link", "add", "br0", "type", "bridge"}, {"ip", "-n", sw, "link", "set", "br0", "up"}} {
		if err := sh(s...); err != nil {
			return err
		}
	}
	srv := prefix + "srv"
	if err := e.addNS(srv); err != nil {
		return err
	}
	if err := link(srv, "srv", "10.77.0.1", *serverRate, ""); err != nil {
		return err
	}
	logs := filepath.Join(*out, "nginx")
	os.RemoveAll(logs)
	originDir := filepath.Join(logs, "origin")
	conf := nginxconf.Config(nginxconf.Options{Dir: originDir, Port: 8080, Root: storage, AccessLog: filepath.Join(originDir, "access.log")})
	conf = strings.Replace(conf, "listen 127.0.0.1:8080", "listen 10.77.0.1:8080", 1)
	if err := startNginx(e, srv, originDir, conf); err != nil {
		return err
	}
	servers := []string{"http://10.77.0.1:8080"}
	senders := map[string]string{srv: filepath.Join(originDir, "access.log")}
	if *proxies > 0 {
		site, err := os.ReadFile("examples/nginx/caching-proxy.conf")
		if err != nil {
			return err
		}
		servers = nil
		for k := 0; k < *proxies; k++ {
			ns := fmt.Sprintf("%sp%d", prefix, k)
			addr := fmt.Sprintf("10.77.0.%d", 10+k)
			if err := e.addNS(ns); err != nil {
				return err
			}
			if err := link(ns, fmt.Sprintf("p%d", k), addr, *serverRate, ""); err != nil {
				return err
			}
			dir := filepath.Join(logs, fmt.Sprintf("proxy%d", k))
			conf, err := nginxconf.CachingProxy(string(site), dir, addr+":8080", "http://10.77.0.1:8080")
			if err != nil {
				return err
			}
			if err := startNginx(e, ns, dir, conf); err != nil {
				return err
			}
			servers = append(servers, "http://"+addr+":8080")
			senders[ns] = filepath.Join(dir, "access.log")
		}
	}
	nShell := int(float64(*n)**shellShare + 0.5)
	for i := 0; i < *n; i++ {
		ns := fmt.Sprintf("%sf%d", prefix, i)
		if err := e.addNS(ns); err != nil {
			return err
		}
		if err := link(ns, fmt.Sprintf("f%d", i), fecAddr(i), "", *fecRate); err != nil {
			return err
		}
	}
	before := map[string]int64{}
	for ns := range senders {
		before[ns] = txBytes(ns)
	}

	// The storm.
	rootDir := filepath.Join(*out, "roots")
	os.RemoveAll(rootDir)
	results := make([]result, *n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < *n; i++ {
		fec := fecName(i)
		root := filepath.Join(rootDir, fec)
		if err := os.MkdirAll(root, 0o755); err != nil {
			return err
		}
		url := servers[i%len(servers)]
		ns := fmt.Sprintf("%sf%d", prefix, i)
		isShell := i%max(1, *n/max(1, nShell)) == 0 && countShell(results[:i]) < nShell
		var cmd *exec.Cmd
		if isShell {
			cmd = exec.Command("ip", "netns", "exec", ns, "env", "-i", "PATH="+bbDir, "HOME=/nonexistent",
				"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", fmt.Sprintf("FECDEPLOY_START_JITTER=%d", int(jitter.Seconds())),
				filepath.Join(bbDir, "busybox"), "sh", script, "--url", url, "--fec", fec, "--root", root)
		} else {
			cmd = exec.Command("ip", "netns", "exec", ns, bin, "--url", url, "--fec", fec, "--root", root,
				"--conf", os.DevNull, "--cmdline", "none", "--start-jitter", jitter.String())
		}
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		results[i] = result{fec: fec, shell: isShell}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			err := e.start(cmd)
			if err == nil {
				err = cmd.Wait()
			}
			r := &results[i]
			r.wall, r.out = time.Since(t0), b.String()
			if ps := cmd.ProcessState; ps != nil {
				r.code = ps.ExitCode()
				if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru != nil {
					r.rss = ru.Maxrss
				}
			} else if err != nil {
				r.code, r.out = -1, err.Error()
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	total := time.Since(began)

	// The figures.
	var sent int64
	var sentBy []string
	retries := 0
	for ns, log := range senders {
		d := txBytes(ns) - before[ns]
		sent += d
		sentBy = append(sentBy, fmt.Sprintf("%s %.0f MB", strings.TrimPrefix(ns, prefix), benchkit.MB(d)))
		retries += archiveRequests(log)
	}
	sort.Strings(sentBy)
	perServer := *n * len(names)
	if *proxies > 0 {
		// Proxies' requests to the origin are in the origin's log: one per archive and proxy.
		perServer += *proxies * len(names)
	}
	retries -= perServer
	fails, slowest := 0, results[0]
	var rssGo, rssSh int64
	var slowGo, slowSh time.Duration
	for _, r := range results {
		if r.code != 0 {
			fails++
			fmt.Fprintf(os.Stderr, "FEC %s (shell %v) exit %d:\n%s\n", r.fec, r.shell, r.code, tail(r.out))
		}
		if r.wall > slowest.wall {
			slowest = r
		}
		if r.shell {
			rssSh, slowSh = max(rssSh, r.rss), max(slowSh, r.wall)
		} else {
			rssGo, slowGo = max(rssGo, r.rss), max(slowGo, r.wall)
		}
	}
	srvBits, _ := bits(*serverRate)
	fecBits, _ := bits(*fecRate)
	busiest := float64(*n) * float64(payload)
	if *proxies > 0 {
		busiest = max(float64(*proxies)*float64(payload), float64((*n+*proxies-1) / *proxies)*float64(payload))
	}
	bound := time.Duration(max(busiest*8/srvBits, float64(payload)*8/fecBits) * float64(time.Second))
	fmt.Printf("storm: %d FECs (%d fec-boot.sh under busybox), %d caching proxies, server uplink %s, FEC link %s, jitter %v, 2 cores shared\n",
		*n, nShell, *proxies, *serverRate, *fecRate, *jitter)
	fmt.Printf("payload per FEC: %d archives, %.1f MB (zstd)\n\n", len(names), benchkit.MB(payload))
	fmt.Println("| figure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| total time | %s |\n", benchkit.Secs(total))
	fmt.Printf("| bound (busiest sender's bytes ÷ uplink, or one FEC's ÷ its link) | %s |\n", benchkit.Secs(bound))
	fmt.Printf("| total ÷ bound | %.2f × |\n", benchkit.Ratio(total, bound))
	fmt.Printf("| slowest FEC | %s (%s, shell %v) |\n", benchkit.Secs(slowest.wall), slowest.fec, slowest.shell)
	fmt.Printf("| slowest fec-boot, slowest fec-boot.sh | %s, %s |\n", benchkit.Secs(slowGo), benchkit.Secs(slowSh))
	fmt.Printf("| failures | %d |\n", fails)
	fmt.Printf("| retries (archive requests beyond one per FEC and archive) | %d |\n", retries)
	fmt.Printf("| bytes sent | %.0f MB (%s) |\n", benchkit.MB(sent), strings.Join(sentBy, ", "))
	fmt.Printf("| peak RSS per client | fec-boot %.1f MB, fec-boot.sh %.1f MB (largest process) |\n", float64(rssGo)/1024, float64(rssSh)/1024)
	os.RemoveAll(rootDir)
	if fails > 0 {
		return fmt.Errorf("%d of %d FECs failed", fails, *n)
	}
	return nil
}

func countShell(rs []result) int {
	c := 0
	for _, r := range rs {
		if r.shell {
			c++
		}
	}
	return c
}

func fecName(i int) string { return fmt.Sprintf("storm%03d", i) }

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// txBytes is what eth0 in ns has sent.
func txBytes(ns string) int64 {
	b, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/eth0/statistics/tx_bytes").Output()
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// archiveRequests counts the archive GETs in an access log.
func archiveRequests(log string) int {
	b, _ := os.ReadFile(log)
	return strings.Count(string(b), "\"GET /software/")
}

// startNginx runs nginx with conf in namespace ns and waits until it listens.
func startNginx(e *env, ns, dir, conf string) error {
	bin, err := benchkit.Tool("nginx")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir+"/", "-g", "daemon off;")
	cmd.Stderr = &stderr
	if err := e.start(cmd); err != nil {
		return err
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(filepath.Join(dir, "nginx.pid")); err == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("nginx in %s did not start: %s", ns, stderr.String())
}

// shellClient writes fec-boot.sh and a PATH of busybox applets plus zstd
// (a Yocto image with the zstd package) under -out.
func shellClient() (pathDir, script string, err error) {
	bb, err := benchkit.Tool("busybox")
	if err != nil {
		return "", "", err
	}
	pathDir = filepath.Join(*out, "busybox-bin")
	os.RemoveAll(pathDir)
	if err := bbox.LinkApplets(bb, pathDir); err != nil {
		return "", "", err
	}
	_ = os.Remove(filepath.Join(pathDir, "busybox"))
	if err := os.Symlink(bb, filepath.Join(pathDir, "busybox")); err != nil {
		return "", "", err
	}
	z, err := benchkit.Tool("zstd")
	if err != nil {
		return "", "", err
	}
	_ = os.Remove(filepath.Join(pathDir, "zstd"))
	if err := os.Symlink(z, filepath.Join(pathDir, "zstd")); err != nil {
		return "", "", err
	}
	script = filepath.Join(*out, client.ScriptName)
	return pathDir, script, os.WriteFile(script, client.Script, 0o755)
}

// buildStorage packs the trees as zstd once and writes the same INDEX for
// every FEC name the run may use; it returns the archive bytes per FEC.
func buildStorage(st string, names []string) (int64, error) {
	ix := index.Index{Arch: "x86_64"}
	marker := filepath.Join(st, ".complete")
	if _, err := os.Stat(marker); err != nil {
		os.RemoveAll(st)
		for _, name := range names {
			if _, err := benchkit.PackTree(st, benchkit.ArchivePath(name, "-x86_64"+index.FormatZstd.Extension()),
				filepath.Join(*out, "payload", name), name, index.FormatZstd); err != nil {
				return 0, err
			}
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return 0, err
		}
	}
	var size int64
	for _, name := range names {
		p := benchkit.ArchivePath(name, "-x86_64"+index.FormatZstd.Extension())
		data, err := os.ReadFile(filepath.Join(st, p))
		if err != nil {
			return 0, err
		}
		sum := sha256.Sum256(data)
		ix.Entries = append(ix.Entries, index.Entry{Kind: index.KindSoftware, Name: name, SHA256: hex.EncodeToString(sum[:]),
			Size: int64(len(data)), Path: p, Format: index.FormatZstd, Version: "1.0.0"})
		size += int64(len(data))
	}
	for i := 0; i < *n; i++ {
		ix.FEC = fecName(i)
		if err := benchkit.WriteIndex(st, ix); err != nil {
			return 0, err
		}
	}
	return size, nil
}
