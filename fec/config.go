package fec

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// Default locations on a FEC.
const (
	DefaultConfPath    = "/etc/fecdeploy.conf"
	DefaultCmdlinePath = "/proc/cmdline"
)

// Config is everything Boot and Install need. The zero value of a field
// means its default (listed with each field); LoadConfig fills a Config from
// flags, environment, kernel command line and /etc/fecdeploy.conf.
type Config struct {
	// BaseURL of the web storage, e.g. http://web01/fecdeploy. Required.
	// It may carry credentials (user:password@); they never appear in a log
	// line, an error, the status file or a script's environment.
	BaseURL string
	// FEC is this FEC's name. Default: the short host name.
	FEC string
	// Root is the directory the archives unpack into and the scripts see as
	// their root (their working directory and $FECDEPLOY_ROOT). Default "/".
	Root string
	// AllowedRoots are the directories, relative to Root, below which an
	// archive may write (e.g. "opt"). They come from the FEC's own
	// configuration, never from the server. Default {"opt"}.
	AllowedRoots []string
	// StateDir keeps what is installed (sha256 per entry) and the local copies
	// of the init scripts. Default <Root>/var/lib/fecdeploy.
	StateDir string
	// StatusFile is the JSON status Boot writes. Default <StateDir>/status.json.
	StatusFile string
	// Parallel is the number of archives downloaded at once. Default 4.
	Parallel int
	// Retries is how often one request is retried (connection errors, 408,
	// 429, 5xx; never 403/404), and how often a download that broke off is
	// resumed. Default 8. Negative means none. The INDEX alone is asked for
	// in further rounds of retries until the Deadline.
	Retries int
	// RetryWaitMin and RetryWaitMax bound the exponential backoff; the wait
	// is drawn uniformly from [0, min(RetryWaitMax, RetryWaitMin·2^n)] (full
	// jitter). Defaults 500ms and 30s.
	RetryWaitMin, RetryWaitMax time.Duration
	// RetryAfterCap caps a server's Retry-After. Default 60s.
	RetryAfterCap time.Duration
	// IdleTimeout fails a request whose headers or next body bytes do not
	// arrive within it (a resumable error for bodies). Default 30s.
	IdleTimeout time.Duration
	// Deadline bounds the whole boot (INDEX, downloads, not the scripts).
	// Default 10m.
	Deadline time.Duration
	// ScriptTimeout bounds each init script; its process group is killed
	// when it expires. Default 5m.
	ScriptTimeout time.Duration
	// StartJitter delays the start of Boot by a random time in
	// [0, StartJitter], to spread a boot storm. Default 0 (LoadConfig: 5s).
	StartJitter time.Duration
	// PublicKeys, when set, make Boot refuse an INDEX whose INDEX.sig does not
	// verify with one of them (several keys allow rotation).
	PublicKeys []ed25519.PublicKey
	// CAFile is a PEM file of CA certificates trusted for an https BaseURL,
	// instead of the system pool.
	CAFile string
	// Kinds restricts Install to these kinds (software, configuration, data).
	// Empty: all archive kinds. Boot ignores it.
	Kinds []index.Kind
	// DryRun fetches and verifies the INDEX and reports what would change,
	// without downloading archives or running scripts.
	DryRun bool
	// Force reinstalls archives even when the state says they are installed.
	Force bool
	// MaxRestarts bounds how often one archive starts over from zero (a 200
	// answer to a Range request). Default 2.
	MaxRestarts int
	// Logger receives progress and failures; nil is silent.
	Logger *slog.Logger
	// HTTPClient replaces the client built from the settings above (its
	// Transport should disable compression). Retries still apply.
	HTTPClient *http.Client
	// Progress, when set, is called as entries move through the boot, from
	// several goroutines at once (one per parallel download).
	Progress func(Event)
	// ScriptOutput receives the init scripts' output, each line prefixed
	// with "[<script>] ". Default: discarded (fec-boot passes stdout).
	ScriptOutput io.Writer
	// CmdlinePath and ConfPath are the sources LoadConfig read (informational).
	CmdlinePath, ConfPath string
}

// Event reports progress of one entry (or of the boot, with Kind "").
type Event struct {
	Kind  index.Kind
	Name  string
	Phase string // "download", "installed", "skipped", "failed", "script"
	Bytes int64  // bytes downloaded so far (download) or in total
	Total int64  // expected size
	Err   error
}

// withDefaults returns a copy with every zero field set to its default and
// validates it.
func (c Config) withDefaults() (Config, error) {
	if c.BaseURL == "" {
		return c, configErr("no base URL: set --url, FECDEPLOY_URL, fecdeploy.url= on the kernel command line or url= in %s", DefaultConfPath)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, configErr("base URL %q is not an http:// or https:// URL", redactString(c.BaseURL))
	}
	if c.FEC == "" {
		h, err := hostname()
		if err != nil {
			return c, configErr("no FEC name given and the host name is unknown: %v", err)
		}
		c.FEC = shortHost(h)
	}
	if err := index.CheckFECName(c.FEC); err != nil {
		return c, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.Root == "" {
		c.Root = "/"
	}
	if !filepath.IsAbs(c.Root) {
		abs, err := filepath.Abs(c.Root)
		if err != nil {
			return c, configErr("root %q: %v", c.Root, err)
		}
		c.Root = abs
	}
	if len(c.AllowedRoots) == 0 {
		c.AllowedRoots = []string{"opt"}
	}
	for i, r := range c.AllowedRoots {
		r = strings.Trim(filepath.ToSlash(r), "/")
		if !filepath.IsLocal(r) || r == "" || r == "." {
			return c, configErr("allowed root %q must be a directory below the root, like opt or opt/fesa", c.AllowedRoots[i])
		}
		c.AllowedRoots[i] = r
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(c.Root, "var/lib/fecdeploy")
	}
	if c.StatusFile == "" {
		c.StatusFile = filepath.Join(c.StateDir, "status.json")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RetryWaitMin, 500*time.Millisecond)
	def(&c.RetryWaitMax, 30*time.Second)
	def(&c.RetryAfterCap, 60*time.Second)
	def(&c.IdleTimeout, 30*time.Second)
	def(&c.Deadline, 10*time.Minute)
	def(&c.ScriptTimeout, 5*time.Minute)
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	if c.Retries == 0 {
		c.Retries = 8
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.MaxRestarts <= 0 {
		c.MaxRestarts = 2
	}
	for _, k := range c.Kinds {
		if !k.IsArchive() || !knownKind(k) {
			return c, configErr("kind %q cannot be installed; use software, configuration or data (init scripts run at boot)", k)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ScriptOutput == nil {
		c.ScriptOutput = io.Discard
	}
	return c, nil
}

func knownKind(k index.Kind) bool {
	for _, x := range index.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// hostname is os.Hostname; a variable so tests can replace it.
var hostname = os.Hostname

func shortHost(h string) string {
	h, _, _ = strings.Cut(h, ".")
	return h
}

// setting is one configuration key and where it may come from.
type setting struct {
	key     string // in /etc/fecdeploy.conf
	env     string
	flag    string
	cmdline string // kernel parameter, if any
	usage   string
	isBool  bool
}

var settings = []setting{
	{key: "url", env: "FECDEPLOY_URL", flag: "url", cmdline: "fecdeploy.url", usage: "base URL of the web storage"},
	{key: "fec", env: "FECDEPLOY_FEC", flag: "fec", cmdline: "fecdeploy.fec", usage: "this FEC's name (default: short host name)"},
	{key: "root", env: "FECDEPLOY_ROOT", flag: "root", usage: "unpack under this directory; scripts run in it (default /)"},
	{key: "allowed_roots", env: "FECDEPLOY_ALLOWED_ROOTS", flag: "allowed-roots", usage: "comma-separated directories below the root archives may write to (default opt)"},
	{key: "state_dir", env: "FECDEPLOY_STATE_DIR", flag: "state-dir", usage: "installed-state and script copies (default <root>/var/lib/fecdeploy)"},
	{key: "status_file", env: "FECDEPLOY_STATUS_FILE", flag: "status-file", usage: "JSON status file (default <state-dir>/status.json)"},
	{key: "parallel", env: "FECDEPLOY_PARALLEL", flag: "parallel", usage: "archives downloaded at once (default 4)"},
	{key: "retries", env: "FECDEPLOY_RETRIES", flag: "retries", usage: "retries per request and resumes per download (default 8)"},
	{key: "retry_wait_max", env: "FECDEPLOY_RETRY_WAIT_MAX", flag: "retry-wait-max", usage: "longest backoff between retries (default 30s)"},
	{key: "retry_after_cap", env: "FECDEPLOY_RETRY_AFTER_CAP", flag: "retry-after-cap", usage: "cap on a server's Retry-After (default 60s)"},
	{key: "idle_timeout", env: "FECDEPLOY_IDLE_TIMEOUT", flag: "idle-timeout", usage: "longest wait for the next bytes of an answer (default 30s)"},
	{key: "deadline", env: "FECDEPLOY_DEADLINE", flag: "deadline", usage: "overall deadline for fetching and installing (default 10m)"},
	{key: "script_timeout", env: "FECDEPLOY_SCRIPT_TIMEOUT", flag: "script-timeout", usage: "timeout of each init script (default 5m)"},
	{key: "start_jitter", env: "FECDEPLOY_START_JITTER", flag: "start-jitter", usage: "random delay before a boot starts, against boot storms (default 5s)"},
	{key: "public_keys", env: "FECDEPLOY_PUBLIC_KEYS", flag: "public-keys", usage: "comma-separated PEM files of trusted INDEX signing keys; when set, unsigned INDEX files are refused"},
	{key: "ca_file", env: "FECDEPLOY_CA_FILE", flag: "ca-file", usage: "PEM CA certificates for an https URL"},
	{key: "dry_run", env: "FECDEPLOY_DRY_RUN", flag: "dry-run", isBool: true, usage: "report what would change; download no archive, run no script"},
	{key: "force", env: "FECDEPLOY_FORCE", flag: "force", isBool: true, usage: "reinstall archives even when already installed"},
}

var defaults = map[string]string{"start_jitter": "5s"}

// LoadConfig builds a Config from, in decreasing precedence: the flags in
// args, the environment (getenv; nil means none), the kernel command line
// (fecdeploy.url=, fecdeploy.fec=; /proc/cmdline or --cmdline/
// FECDEPLOY_CMDLINE), the configuration file (/etc/fecdeploy.conf or
// --conf/FECDEPLOY_CONF; missing is fine unless named explicitly), and the
// defaults. It returns the arguments left after the flags. A -h/--help gives
// flag.ErrHelp. All other errors wrap ErrConfig.
func LoadConfig(args []string, getenv func(string) string) (Config, []string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	fs := flag.NewFlagSet("fec-boot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagVals := map[string]*string{}
	boolVals := map[string]*bool{}
	for _, s := range settings {
		if s.isBool {
			boolVals[s.key] = fs.Bool(s.flag, false, s.usage)
		} else {
			flagVals[s.key] = fs.String(s.flag, "", s.usage)
		}
	}
	confFlag := fs.String("conf", "", "configuration file (default "+DefaultConfPath+")")
	cmdlineFlag := fs.String("cmdline", "", "kernel command line file (default "+DefaultCmdlinePath+"; 'none' to ignore)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return Config{}, nil, err
		}
		return Config{}, nil, configErr("%v (see fec-boot --help)", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Lowest precedence first; later layers overwrite.
	vals := map[string]string{}
	for k, v := range defaults {
		vals[k] = v
	}
	confPath, confExplicit := DefaultConfPath, false
	if v := getenv("FECDEPLOY_CONF"); v != "" {
		confPath, confExplicit = v, true
	}
	if *confFlag != "" {
		confPath, confExplicit = *confFlag, true
	}
	conf, err := readConf(confPath, confExplicit)
	if err != nil {
		return Config{}, nil, err
	}
	for k, v := range conf {
		vals[k] = v
	}
	cmdlinePath := DefaultCmdlinePath
	if v := getenv("FECDEPLOY_CMDLINE"); v != "" {
		cmdlinePath = v
	}
	if *cmdlineFlag != "" {
		cmdlinePath = *cmdlineFlag
	}
	if cmdlinePath != "none" {
		params, err := readCmdline(cmdlinePath)
		if err != nil {
			return Config{}, nil, err
		}
		for _, s := range settings {
			if v, ok := params[s.cmdline]; ok && s.cmdline != "" {
				vals[s.key] = v
			}
		}
	}
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			vals[s.key] = v
		}
	}
	for _, s := range settings {
		if !set[s.flag] {
			continue
		}
		if s.isBool {
			vals[s.key] = strconv.FormatBool(*boolVals[s.key])
		} else {
			vals[s.key] = *flagVals[s.key]
		}
	}
	cfg, err := fromValues(vals)
	if err != nil {
		return Config{}, nil, err
	}
	cfg.ConfPath, cfg.CmdlinePath = confPath, cmdlinePath
	return cfg, fs.Args(), nil
}

// Usage writes the flag list to w.
func Usage(w io.Writer) {
	for _, s := range settings {
		arg := " VALUE"
		if s.isBool {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s%s\n    \t%s [%s", s.flag, arg, s.usage, s.env)
		if s.cmdline != "" {
			fmt.Fprintf(w, ", %s=", s.cmdline)
		}
		fmt.Fprintf(w, ", %s=]\n", s.key)
	}
	fmt.Fprintf(w, "  --conf FILE\n    \tconfiguration file (default %s) [FECDEPLOY_CONF]\n", DefaultConfPath)
	fmt.Fprintf(w, "  --cmdline FILE\n    \tkernel command line (default %s, 'none' ignores it) [FECDEPLOY_CMDLINE]\n", DefaultCmdlinePath)
}

func fromValues(vals map[string]string) (Config, error) {
	var c Config
	var err error
	dur := func(key string, d *time.Duration) {
		v, ok := vals[key]
		if !ok || err != nil {
			return
		}
		if n, e := strconv.Atoi(v); e == nil && n >= 0 {
			*d = time.Duration(n) * time.Second
			if n == 0 && key == "start_jitter" {
				*d = 0
			}
			return
		}
		x, e := time.ParseDuration(v)
		if e != nil || x < 0 {
			err = configErr("%s=%q is not a duration (like 30s, 5m or a number of seconds)", key, v)
			return
		}
		*d = x
	}
	num := func(key string, n *int) {
		v, ok := vals[key]
		if !ok || err != nil {
			return
		}
		x, e := strconv.Atoi(v)
		if e != nil {
			err = configErr("%s=%q is not a whole number", key, v)
			return
		}
		*n = x
	}
	boolean := func(key string, b *bool) {
		v, ok := vals[key]
		if !ok || err != nil {
			return
		}
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			*b = true
		case "0", "false", "no", "off", "":
			*b = false
		default:
			err = configErr("%s=%q is not a boolean (true/false, 1/0)", key, v)
		}
	}
	c.BaseURL = strings.TrimRight(vals["url"], "/")
	c.FEC = vals["fec"]
	c.Root = vals["root"]
	if v := vals["allowed_roots"]; v != "" {
		c.AllowedRoots = splitList(v)
	}
	c.StateDir = vals["state_dir"]
	c.StatusFile = vals["status_file"]
	c.CAFile = vals["ca_file"]
	num("parallel", &c.Parallel)
	num("retries", &c.Retries)
	if v, ok := vals["retries"]; ok && err == nil && c.Retries == 0 && v != "" {
		c.Retries = -1 // an explicit 0 means no retries
	}
	dur("retry_wait_max", &c.RetryWaitMax)
	dur("retry_after_cap", &c.RetryAfterCap)
	dur("idle_timeout", &c.IdleTimeout)
	dur("deadline", &c.Deadline)
	dur("script_timeout", &c.ScriptTimeout)
	dur("start_jitter", &c.StartJitter)
	boolean("dry_run", &c.DryRun)
	boolean("force", &c.Force)
	if err != nil {
		return c, err
	}
	if v := vals["public_keys"]; v != "" {
		for _, p := range splitList(v) {
			data, err := os.ReadFile(p)
			if err != nil {
				return c, configErr("reading public key file: %v", err)
			}
			keys, err := index.ParsePublicKeys(data)
			if err != nil {
				return c, configErr("public key file %s: %v", p, err)
			}
			c.PublicKeys = append(c.PublicKeys, keys...)
		}
	}
	return c, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, s)
	}
	return out
}

// readConf reads key=value lines; '#' starts a comment line. Unknown keys are
// errors (a typo must not silently fall back to a default).
func readConf(path string, explicit bool) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) && !explicit {
			return nil, nil
		}
		return nil, configErr("reading configuration file: %v", err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.key] = true
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, configErr("%s:%d: %q is not key=value", path, n, line)
		}
		if !known[k] {
			keys := make([]string, 0, len(known))
			for k := range known {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return nil, configErr("%s:%d: unknown key %q (known: %s)", path, n, k, strings.Join(keys, ", "))
		}
		vals[k] = strings.Trim(v, `"'`)
	}
	return vals, nil
}

// readCmdline returns the fecdeploy.* parameters of a kernel command line.
// A missing file is not an error (not every system has /proc).
func readCmdline(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, configErr("reading kernel command line: %v", err)
	}
	return parseCmdline(string(data)), nil
}

// parseCmdline splits a kernel command line the way the kernel does: on
// white space, with double quotes grouping a value.
func parseCmdline(s string) map[string]string {
	params := map[string]string{}
	var cur strings.Builder
	inQuote := false
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		k, v, _ := strings.Cut(cur.String(), "=")
		if strings.HasPrefix(k, "fecdeploy.") {
			params[k] = v
		}
		cur.Reset()
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case (r == ' ' || r == '\t' || r == '\n') && !inQuote:
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return params
}
