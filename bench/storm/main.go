// Command storm is the boot-storm benchmark (make bench-storm): N FECs boot
// at the same moment from one web storage, over shaped links, each in a
// network namespace of its own, each into a root of its own.
//
//	make bench-storm                       # = go run ./bench/storm (as root)
//	go run ./bench/storm -n 50 -shell 0.2 -proxies 2
//	go run ./bench/storm -n 500 -payload-mb 8   # the fleet case, link-bound
//	go run ./bench/storm -cleanup          # remove namespaces a killed run left
//
// The network it builds (all names start with -ns-prefix, "fst-", addresses
// 10.77.0.0/16, nothing else is touched):
//
//	fst-srv (nginx origin: examples/nginx/fecdeploy.conf, eth0 10.77.0.1,
//	         tbf -server-rate)
//	fst-p<k> (optional caching proxies, examples/nginx/caching-proxy.conf,
//	          eth0 10.77.0.1<k>, tbf -server-rate)
//	fst-sw  (a bridge joining everything; towards each FEC a tbf of -fec-rate)
//	fst-f<i> (one FEC: fec-boot, or fec-boot.sh under busybox for a -shell share)
//
// This kernel has tbf but no netem: links are rate-limited, not delayed.
// Every namespace (and the tmpfs of the roots) is removed at the end, also
// on SIGINT/SIGTERM/SIGHUP, and at the start of the next run.
//
// It prints the total time against the bound (the bytes the busiest sender
// must send ÷ its uplink, or one FEC's bytes ÷ its link, whichever is
// longer), the slowest and the median FEC, failures, retries and 429/503
// answers seen in the access logs, bytes sent by the origin and the proxies,
// the peak RSS of the clients, their CPU time and the machine's load.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
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

var (
	n          = flag.Int("n", 20, "FECs booting at once")
	shellShare = flag.Float64("shell", 0.2, "share of the FECs running fec-boot.sh under busybox (the rest run fec-boot)")
	curl       = flag.Bool("curl", false, "give fec-boot.sh curl (it then honours Retry-After; busybox wget alone cannot see it)")
	proxies    = flag.Int("proxies", 0, "caching proxies between origin and FECs (0: FECs fetch from the origin)")
	serverRate = flag.String("server-rate", "1gbit", "uplink of the origin and of each proxy (tc rate)")
	fecRate    = flag.String("fec-rate", "100mbit", "link of each FEC (tc rate)")
	treeMB     = flag.Int64("tree-mb", 32, "approximate unpacked size of each payload tree, MB (this machine fills five ELF trees of 20-35 MB)")
	trees      = flag.Int("trees", 2, "payload trees per FEC: 1 ELF tree and the XML instance tree for 2, up to all six")
	payloadMB  = flag.Int("payload-mb", 0, "instead of the real trees: two archives of incompressible data, together this many MB per FEC (the fleet case: little CPU per byte, so the links, not the FECs' shared CPU, are the bound)")
	jitter     = flag.Duration("jitter", 0, "start jitter of every client (0: all start at the same moment)")
	limit      = flag.Int("limit", -1, "requests in flight the origin and each proxy admit before answering 503 with Retry-After (limit_conn fecdeploy_total); -1: as in examples/nginx/, 0: no limit")
	roots      = flag.String("roots", "auto", "where the FECs' roots are: tmpfs (each FEC has a disk of its own; one shared disk would serialise their syncs), disk (under -out), auto (tmpfs when the payload of all FECs fits in half of the free memory)")
	nsPrefix   = flag.String("ns-prefix", "fst-", "prefix of every namespace this run creates (and removes)")
	out        = flag.String("out", "bench/out/_storm", "work directory (payload, storage, roots, logs); git-ignored")
	cleanup    = flag.Bool("cleanup", false, "only remove namespaces named <ns-prefix>* that an interrupted run left, then exit")
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
	// SIGPIPE too: a run whose output is gone (a closed terminal or pipe)
	// would otherwise die at its next line without cleaning up.
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
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

// env is what must be undone: processes started, namespaces created, the
// roots' tmpfs, a raised sysctl.
type env struct {
	mu      sync.Mutex
	procs   []*exec.Cmd
	nss     []string
	mounts  []string
	sysctls map[string]string // path: value to restore
	done    bool
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
	for _, m := range e.mounts {
		// lazily: a killed client may still hold a file there for a moment
		_ = exec.Command("umount", "-l", m).Run()
	}
	for p, v := range e.sysctls {
		_ = os.WriteFile(p, []byte(v), 0o644)
	}
}

func (e *env) interrupted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done
}

// addNS creates a namespace, under the lock: an interrupt between the check
// and the creation would leave it behind.
func (e *env) addNS(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return fmt.Errorf("interrupted")
	}
	e.nss = append(e.nss, name)
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

// mountTmpfs mounts a tmpfs of size bytes on dir.
func (e *env) mountTmpfs(dir string, size int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return fmt.Errorf("interrupted")
	}
	if err := sh("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "storm-roots", dir); err != nil {
		return err
	}
	e.mounts = append(e.mounts, dir)
	return nil
}

// atLeast raises the integer sysctl at path to v for the run (restored by
// close); it reports whether it changed it.
func (e *env) atLeast(path string, v int) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || cur >= v {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sysctls == nil {
		e.sysctls = map[string]string{}
	}
	if _, ok := e.sysctls[path]; !ok {
		e.sysctls[path] = string(b)
	}
	return true, os.WriteFile(path, []byte(strconv.Itoa(v)), 0o644)
}

// removeAll deletes every namespace named <ns-prefix>*.
func removeAll() {
	b, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], *nsPrefix) {
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
	return sh("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf",
		"rate", rate, "burst", strconv.Itoa(burst), "latency", "50ms")
}

// link joins namespace ns to the bridge with a veth: eth0 (addr) in ns,
// swName in the switch namespace; rate shapes ns's sending side when up, the
// FEC-facing side when down.
func link(ns, swName, addr, upRate, downRate string) error {
	sw := *nsPrefix + "sw"
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
	cpu   time.Duration // user + system of the client and its children
	rss   int64         // KiB, the largest process
	out   string
}

func run(e *env) error {
	for _, tool := range []string{"ip", "tc", "nginx", "busybox", "zstd"} {
		if _, err := benchkit.Tool(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install iproute2 nginx busybox zstd", tool)
		}
	}
	if *curl {
		if _, err := benchkit.Tool("curl"); err != nil {
			return fmt.Errorf("-curl: curl not found: apt-get install curl")
		}
	}
	// The bridge takes at most 1024 ports (BR_MAX_PORTS).
	if *n < 1 || *n+*proxies+1 > 1024 {
		return fmt.Errorf("-n %d with %d proxies: the bridge takes at most 1024 ports (one per FEC, proxy and the origin)", *n, *proxies)
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	*out = abs
	t0 := time.Now()
	dirs, err := payloadTrees()
	if err != nil {
		return err
	}
	var unpacked int64
	for _, d := range dirs {
		_, b, err := benchkit.DirStats(d)
		if err != nil {
			return err
		}
		unpacked += b
	}
	storage := filepath.Join(*out, "storage")
	payload, nArchives, err := buildStorage(storage, dirs)
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
	prepared := time.Since(t0)

	// The roots: a tmpfs stands for the FECs' own disks.
	rootDir := filepath.Join(*out, "roots")
	_ = exec.Command("umount", "-l", rootDir).Run() // a killed run's
	if err := os.RemoveAll(rootDir); err != nil {
		return err
	}
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		return err
	}
	need := int64(*n)*(unpacked+payload+1<<20) + 256<<20
	onTmpfs := *roots == "tmpfs" || (*roots == "auto" && need < memAvailable()/2)
	if *roots != "tmpfs" && *roots != "disk" && *roots != "auto" {
		return fmt.Errorf("-roots %q: want tmpfs, disk or auto", *roots)
	}
	if onTmpfs {
		if err := e.mountTmpfs(rootDir, need+64<<20); err != nil {
			return err
		}
	}

	// Every FEC, proxy and the origin keep neighbour (ARP) entries, about
	// two per FEC, in one table all namespaces share: past gc_thresh2 (512)
	// the kernel evicts entries in use, past gc_thresh3 (1024, at about 500
	// FECs) it drops packets. Raised for the run when needed.
	raised := false
	if entries := 2**n + 2**proxies + 16; entries >= 400 {
		for k, want := range map[string]int{"gc_thresh2": 2 * entries, "gc_thresh3": 4 * entries} {
			r, err := e.atLeast("/proc/sys/net/ipv4/neigh/default/"+k, want)
			if err != nil {
				return fmt.Errorf("raising net.ipv4.neigh.default.%s for %d FECs: %w", k, *n, err)
			}
			raised = raised || r
		}
	}

	// The network.
	t1 := time.Now()
	sw := *nsPrefix + "sw"
	if err := e.addNS(sw); err != nil {
		return err
	}
	for _, s := range [][]string{{"ip", "-n", sw, "link", "add", "br0", "type", "bridge"}, {"ip", "-n", sw, "link", "set", "br0", "up"}} {
		if err := sh(s...); err != nil {
			return err
		}
	}
	srv := *nsPrefix + "srv"
	if err := e.addNS(srv); err != nil {
		return err
	}
	if err := link(srv, "srv", "10.77.0.1", *serverRate, ""); err != nil {
		return err
	}
	logs := filepath.Join(*out, "nginx")
	os.RemoveAll(logs)
	originDir := filepath.Join(logs, "origin")
	site, err := os.ReadFile("examples/nginx/fecdeploy.conf")
	if err != nil {
		return err
	}
	conf, err := nginxconf.Origin(string(site), originDir, "10.77.0.1:8080", storage)
	if err != nil {
		return err
	}
	limitUsed, conf, err := setLimit(conf, *limit)
	if err != nil {
		return fmt.Errorf("examples/nginx/fecdeploy.conf: %w", err)
	}
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
			ns := fmt.Sprintf("%sp%d", *nsPrefix, k)
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
			if _, conf, err = setLimit(conf, *limit); err != nil {
				return fmt.Errorf("examples/nginx/caching-proxy.conf: %w", err)
			}
			if err := startNginx(e, ns, dir, conf); err != nil {
				return err
			}
			servers = append(servers, "http://"+addr+":8080")
			senders[ns] = filepath.Join(dir, "access.log")
		}
	}
	// The FECs' namespaces, a few at a time (each is a handful of ip and tc
	// calls, serialised by the kernel's rtnl lock, but exec-bound).
	var setupErr error
	var setupMu sync.Mutex
	next := make(chan int)
	var swg sync.WaitGroup
	for w := 0; w < 4; w++ {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for i := range next {
				ns := fmt.Sprintf("%sf%d", *nsPrefix, i)
				err := e.addNS(ns)
				if err == nil {
					err = link(ns, fmt.Sprintf("f%d", i), fecAddr(i), "", *fecRate)
				}
				if err != nil {
					setupMu.Lock()
					setupErr = err
					setupMu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < *n; i++ {
		setupMu.Lock()
		failed := setupErr != nil
		setupMu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	swg.Wait()
	if setupErr != nil {
		return fmt.Errorf("setting up the FECs' network (at %d FECs; see docs/scale.md, where this machine stops): %w", len(e.nss), setupErr)
	}
	network := time.Since(t1)
	before := map[string]int64{}
	tcp0 := map[string]map[string]int64{}
	for ns := range senders {
		before[ns] = txBytes(ns)
		tcp0[ns] = tcpCounters(ns)
	}

	// Peak RSS: wait4's ru_maxrss of a child that Go started includes the
	// memory of this process at the moment of the fork (vfork shares it
	// until exec, and exec keeps that high-water mark), so each client runs
	// under GNU time, which forks from a small process and reports the
	// client's own figure.
	gnuTime := ""
	if p, err := exec.LookPath("time"); err == nil {
		if v, _ := exec.Command(p, "--version").CombinedOutput(); bytes.Contains(v, []byte("GNU")) {
			gnuTime = p
		}
	}
	rssDir := filepath.Join(*out, "rss")
	os.RemoveAll(rssDir)
	if err := os.MkdirAll(rssDir, 0o755); err != nil {
		return err
	}

	// The storm.
	nShell := int(float64(*n)**shellShare + 0.5)
	results := make([]result, *n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	jitterSecs := int((*jitter + time.Second - 1) / time.Second)
	for i := 0; i < *n; i++ {
		fec := fecName(i)
		root := filepath.Join(rootDir, fec)
		if err := os.MkdirAll(root, 0o755); err != nil {
			return err
		}
		url := servers[i%len(servers)]
		ns := fmt.Sprintf("%sf%d", *nsPrefix, i)
		isShell := i%max(1, *n/max(1, nShell)) == 0 && countShell(results[:i]) < nShell
		argv := []string{"ip", "netns", "exec", ns}
		rssFile := filepath.Join(rssDir, fec)
		if gnuTime != "" {
			argv = append(argv, gnuTime, "-f", "%M", "-o", rssFile)
		}
		if isShell {
			argv = append(argv, "env", "-i", "PATH="+bbDir, "HOME=/nonexistent",
				"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", fmt.Sprintf("FECDEPLOY_START_JITTER=%d", jitterSecs),
				filepath.Join(bbDir, "busybox"), "sh", script, "--url", url, "--fec", fec, "--root", root)
		} else {
			argv = append(argv, bin, "--url", url, "--fec", fec, "--root", root,
				"--conf", os.DevNull, "--cmdline", "none", "--start-jitter", jitter.String())
		}
		cmd := exec.Command(argv[0], argv[1:]...)
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
				r.cpu = ps.UserTime() + ps.SystemTime()
				if b, err := os.ReadFile(rssFile); err == nil {
					// GNU time adds "Command exited with non-zero status N" first
					f := strings.Fields(string(b))
					if len(f) > 0 {
						r.rss, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
					}
				}
			} else if err != nil {
				r.code, r.out = -1, err.Error()
			}
		}()
	}
	load0 := loadavg()
	cpu0 := cpuTimes()
	began := time.Now()
	close(start)
	wg.Wait()
	total := time.Since(began)
	if e.interrupted() {
		return fmt.Errorf("interrupted")
	}
	busy := cpuBusy(cpu0, cpuTimes())
	load1 := loadavg()

	// The figures.
	var sent int64
	var sentBy []string
	retries, rejected := 0, map[string]int{}
	tcp := map[string]int64{}
	for ns, log := range senders {
		for k, v := range tcpCounters(ns) {
			tcp[k] += v - tcp0[ns][k]
		}
		d := txBytes(ns) - before[ns]
		sent += d
		sentBy = append(sentBy, fmt.Sprintf("%s %.0f MB", strings.TrimPrefix(ns, *nsPrefix), benchkit.MB(d)))
		b, _ := os.ReadFile(log)
		retries += strings.Count(string(b), "\"GET /software/")
		for _, code := range []string{"429", "503"} {
			rejected[code] += strings.Count(string(b), "\" "+code+" ")
		}
	}
	sort.Strings(sentBy)
	perServer := *n * nArchives
	if *proxies > 0 {
		// Proxies' requests to the origin are in the origin's log: one per archive and proxy.
		perServer += *proxies * nArchives
	}
	retries -= perServer
	fails := 0
	var rssGo, rssSh int64
	var slowGo, slowSh, cpuSum, cpuGo, cpuSh time.Duration
	walls := make([]time.Duration, 0, len(results))
	slowest := results[0]
	for _, r := range results {
		if r.code != 0 {
			fails++
			if fails <= 5 {
				fmt.Fprintf(os.Stderr, "FEC %s (shell %v) exit %d:\n%s\n", r.fec, r.shell, r.code, tail(r.out))
			}
		}
		if r.wall > slowest.wall {
			slowest = r
		}
		walls = append(walls, r.wall)
		cpuSum += r.cpu
		if r.shell {
			cpuSh += r.cpu
		} else {
			cpuGo += r.cpu
		}
		if r.shell {
			rssSh, slowSh = max(rssSh, r.rss), max(slowSh, r.wall)
		} else {
			rssGo, slowGo = max(rssGo, r.rss), max(slowGo, r.wall)
		}
	}
	clientRetries := 0
	for _, r := range results {
		clientRetries += strings.Count(r.out, "retrying")
	}
	srvBits, _ := bits(*serverRate)
	fecBits, _ := bits(*fecRate)
	busiest := float64(*n) * float64(payload)
	if *proxies > 0 {
		busiest = max(float64(*proxies)*float64(payload), float64((*n+*proxies-1) / *proxies)*float64(payload))
	}
	bound := time.Duration(max(busiest*8/srvBits, float64(payload)*8/fecBits) * float64(time.Second))
	where := "disk (" + rootDir + ")"
	if onTmpfs {
		where = "tmpfs"
	}
	kind := fmt.Sprintf("%d real trees (ELF files, XML instance files)", len(dirs))
	if *payloadMB > 0 {
		kind = "incompressible data (-payload-mb)"
	}
	limitText := "none"
	if limitUsed > 0 {
		limitText = fmt.Sprintf("%d requests in flight per server, then 503 + Retry-After", limitUsed)
	}
	shellFetch := "busybox wget"
	if *curl {
		shellFetch = "curl"
	}
	fmt.Printf("storm: %d FECs (%d fec-boot.sh under busybox, fetching with %s), %d caching proxies, server uplink %s, FEC link %s, start jitter %v, server limit: %s\n",
		*n, nShell, shellFetch, *proxies, *serverRate, *fecRate, *jitter, limitText)
	fmt.Printf("payload per FEC: %d archives of %s, %.1f MB (zstd), %.1f MB unpacked; roots on %s\n",
		nArchives, kind, benchkit.MB(payload), benchkit.MB(unpacked), where)
	fmt.Printf("prepared in %s, network of %d namespaces set up in %s", benchkit.Secs(prepared), len(e.nss), benchkit.Secs(network))
	if raised {
		fmt.Printf(" (neighbour table limits raised for the run)")
	}
	fmt.Printf("\nmachine: %d cores, load average %s before, %s after\n\n", numCPU(), load0, load1)
	fmt.Println("| figure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| total time | %s |\n", benchkit.Secs(total))
	fmt.Printf("| bound (busiest sender's bytes ÷ uplink, or one FEC's ÷ its link) | %s |\n", benchkit.Secs(bound))
	fmt.Printf("| total ÷ bound | %.2f × |\n", benchkit.Ratio(total, bound))
	fmt.Printf("| slowest FEC | %s (%s, shell %v) |\n", benchkit.Secs(slowest.wall), slowest.fec, slowest.shell)
	fmt.Printf("| median FEC | %s |\n", benchkit.Secs(benchkit.Median(walls)))
	fmt.Printf("| slowest fec-boot, slowest fec-boot.sh | %s, %s |\n", benchkit.Secs(slowGo), benchkit.Secs(slowSh))
	fmt.Printf("| failures | %d |\n", fails)
	fmt.Printf("| retries (archive requests beyond one per FEC and archive; retries the clients logged) | %d; %d |\n", retries, clientRetries)
	fmt.Printf("| answered 429 / 503 (all servers) | %d / %d |\n", rejected["429"], rejected["503"])
	fmt.Printf("| bytes sent | %.0f MB (%s) |\n", benchkit.MB(sent), strings.Join(sentBy, ", "))
	fmt.Printf("| servers' TCP: listen queue overflows, segments retransmitted | %d, %d |\n", tcp["ListenOverflows"], tcp["RetransSegs"])
	if gnuTime != "" {
		fmt.Printf("| peak RSS per client (largest process, GNU time) | fec-boot %.1f MB, fec-boot.sh %.1f MB; × N: %.1f GB |\n",
			float64(rssGo)/1024, float64(rssSh)/1024, (float64(rssGo)*float64(*n-nShell)+float64(rssSh)*float64(nShell))/1024/1e3)
	} else {
		fmt.Printf("| peak RSS per client | not measured: GNU time (apt-get install time) is missing |\n")
	}
	fmt.Printf("| CPU of the clients (user+sys) | %.0f s = %.0f %% of %d cores over the run; per FEC: fec-boot %.2f s, fec-boot.sh %.2f s; machine busy %.0f %% |\n",
		cpuSum.Seconds(), 100*cpuSum.Seconds()/total.Seconds()/float64(numCPU()), numCPU(),
		cpuGo.Seconds()/float64(max(1, *n-nShell)), cpuSh.Seconds()/float64(max(1, nShell)), busy)
	if !onTmpfs {
		os.RemoveAll(rootDir) // the tmpfs goes with its unmount
	}
	if fails > 0 {
		return fmt.Errorf("%d of %d FECs failed", fails, *n)
	}
	return nil
}

// setLimit sets the server-wide limit (limit_conn fecdeploy_total) in conf:
// v > 0 that many, 0 none (the line removed), -1 as the example has it. It
// returns the limit in effect.
func setLimit(conf string, v int) (int, string, error) {
	re := regexp.MustCompile(`(?m)^(\s*limit_conn fecdeploy_total )(\d+);\n`)
	m := re.FindStringSubmatch(conf)
	if m == nil {
		return 0, "", fmt.Errorf("no \"limit_conn fecdeploy_total N;\" line")
	}
	switch {
	case v < 0:
		cur, _ := strconv.Atoi(m[2])
		return cur, conf, nil
	case v == 0:
		return 0, re.ReplaceAllString(conf, ""), nil
	}
	return v, re.ReplaceAllString(conf, "${1}"+strconv.Itoa(v)+";\n"), nil
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

// tcpCounters returns TcpExt ListenOverflows and Tcp RetransSegs of
// namespace ns (the kernel counts them per namespace).
func tcpCounters(ns string) map[string]int64 {
	c := map[string]int64{}
	for _, f := range []string{"/proc/net/netstat", "/proc/net/snmp"} {
		b, err := exec.Command("ip", "netns", "exec", ns, "cat", f).Output()
		if err != nil {
			continue
		}
		// pairs of lines: "Prefix: names..." then "Prefix: values..."
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			for j := 1; j < len(names) && j < len(values); j++ {
				if names[j] == "ListenOverflows" || names[j] == "RetransSegs" {
					v, _ := strconv.ParseInt(values[j], 10, 64)
					c[names[j]] = v
				}
			}
		}
	}
	return c
}

// memAvailable is MemAvailable of /proc/meminfo in bytes (0 if unknown).
func memAvailable() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/stat")
	c := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cpu") && !strings.HasPrefix(line, "cpu ") {
			c++
		}
	}
	return max(c, 1)
}

// cpuTimes is the first line of /proc/stat: jiffies per state.
func cpuTimes() []int64 {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	var v []int64
	for _, f := range strings.Fields(line)[1:] {
		x, _ := strconv.ParseInt(f, 10, 64)
		v = append(v, x)
	}
	return v
}

// cpuBusy is the share of the machine's CPU time between a and b that was
// not idle or iowait, in percent.
func cpuBusy(a, b []int64) float64 {
	if len(a) < 5 || len(b) < 5 {
		return 0
	}
	var total, idle int64
	for i := range a {
		d := b[i] - a[i]
		total += d
		if i == 3 || i == 4 {
			idle += d
		}
	}
	if total <= 0 {
		return 0
	}
	return 100 * float64(total-idle) / float64(total)
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

// shellClient writes fec-boot.sh and a PATH of busybox applets plus zstd (a
// Yocto image with the zstd package) and, with -curl, curl under -out.
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
	tools := map[string]string{"busybox": bb}
	extra := []string{"zstd"}
	if *curl {
		extra = append(extra, "curl")
	}
	for _, name := range extra {
		p, err := benchkit.Tool(name)
		if err != nil {
			return "", "", err
		}
		tools[name] = p
	}
	for name, p := range tools {
		_ = os.Remove(filepath.Join(pathDir, name))
		if err := os.Symlink(p, filepath.Join(pathDir, name)); err != nil {
			return "", "", err
		}
	}
	script = filepath.Join(*out, client.ScriptName)
	return pathDir, script, os.WriteFile(script, client.Script, 0o755)
}

// payloadTrees returns the directories to pack, one archive each: the real
// trees of the other boot benchmarks, or with -payload-mb two trees of
// incompressible files (built once per size, reproducibly).
func payloadTrees() ([]string, error) {
	if *payloadMB <= 0 {
		names, err := benchkit.BuildTrees(filepath.Join(*out, "payload"), *treeMB)
		if err != nil {
			return nil, err
		}
		if *trees < len(names) {
			// The instance tree (many small files) always, ELF trees for the rest.
			names = append(append([]string{}, names[:max(0, *trees-1)]...), names[len(names)-1])
		}
		var dirs []string
		for _, name := range names {
			dirs = append(dirs, filepath.Join(*out, "payload", name))
		}
		return dirs, nil
	}
	base := filepath.Join(*out, fmt.Sprintf("payload-synth-%dmb", *payloadMB))
	dirs := []string{filepath.Join(base, "SynthA_DU"), filepath.Join(base, "SynthB_DU")}
	if _, err := os.Stat(filepath.Join(base, ".complete")); err == nil {
		return dirs, nil
	}
	os.RemoveAll(base)
	rng := rand.NewChaCha8([32]byte{'s', 't', 'o', 'r', 'm'})
	per := int64(*payloadMB) << 20 / 2
	for _, d := range dirs {
		// files of 1 MiB and the rest, as a software tree of a few files
		for k, left := 0, per; left > 0; k++ {
			size := min(left, 1<<20)
			buf := make([]byte, size)
			_, _ = rng.Read(buf)
			p := filepath.Join(d, "lib", fmt.Sprintf("part%03d.so", k))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, buf, 0o644); err != nil {
				return nil, err
			}
			left -= size
		}
	}
	return dirs, os.WriteFile(filepath.Join(base, ".complete"), nil, 0o644)
}

// buildStorage packs each tree as zstd (once per payload: the storage is
// rebuilt when the payload options change) and writes the same INDEX for
// every FEC name the run may use; it returns the archive bytes per FEC and
// the number of archives.
func buildStorage(st string, dirs []string) (int64, int, error) {
	ix := index.Index{Arch: "x86_64"}
	key := strings.Join(dirs, "\n") + "\n"
	marker := filepath.Join(st, ".complete")
	if b, err := os.ReadFile(marker); err != nil || string(b) != key {
		os.RemoveAll(st)
		for _, d := range dirs {
			name := filepath.Base(d)
			if _, err := benchkit.PackTree(st, benchkit.ArchivePath(name, "-x86_64"+index.FormatZstd.Extension()),
				d, name, index.FormatZstd); err != nil {
				return 0, 0, err
			}
		}
		if err := os.WriteFile(marker, []byte(key), 0o644); err != nil {
			return 0, 0, err
		}
	}
	var size int64
	for _, d := range dirs {
		name := filepath.Base(d)
		p := benchkit.ArchivePath(name, "-x86_64"+index.FormatZstd.Extension())
		data, err := os.ReadFile(filepath.Join(st, p))
		if err != nil {
			return 0, 0, err
		}
		sum := sha256.Sum256(data)
		ix.Entries = append(ix.Entries, index.Entry{Kind: index.KindSoftware, Name: name, SHA256: hex.EncodeToString(sum[:]),
			Size: int64(len(data)), Path: p, Format: index.FormatZstd, Version: "1.0.0"})
		size += int64(len(data))
	}
	for i := 0; i < *n; i++ {
		ix.FEC = fecName(i)
		if err := benchkit.WriteIndex(st, ix); err != nil {
			return 0, 0, err
		}
	}
	return size, len(dirs), nil
}
