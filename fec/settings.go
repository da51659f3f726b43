package fec

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// Setting is one configuration key of a FEC and the places it may be given
// besides a flag of fec-boot (whose name is Flag).
type Setting struct {
	Key     string // in /etc/fecdeploy.conf, e.g. allowed_roots
	Env     string // environment variable, e.g. FECDEPLOY_ALLOWED_ROOTS
	Flag    string // fec-boot's flag, e.g. allowed-roots
	Cmdline string // kernel parameter (fecdeploy.url), "" if none
	Doc     string // one line for a --help text
	IsBool  bool   // a switch: true/false, 1/0, yes/no, on/off
}

var settings = []Setting{
	{Key: "url", Env: "FECDEPLOY_URL", Flag: "url", Cmdline: "fecdeploy.url", Doc: "base URL of the web storage"},
	{Key: "fec", Env: "FECDEPLOY_FEC", Flag: "fec", Cmdline: "fecdeploy.fec", Doc: "this FEC's name (default: short host name)"},
	{Key: "root", Env: "FECDEPLOY_ROOT", Flag: "root", Doc: "unpack under this directory; scripts run in it (default /)"},
	{Key: "allowed_roots", Env: "FECDEPLOY_ALLOWED_ROOTS", Flag: "allowed-roots", Doc: "comma-separated directories below the root archives may write to (default opt)"},
	{Key: "state_dir", Env: "FECDEPLOY_STATE_DIR", Flag: "state-dir", Doc: "installed-state and script copies (default <root>/var/lib/fecdeploy)"},
	{Key: "status_file", Env: "FECDEPLOY_STATUS_FILE", Flag: "status-file", Doc: "JSON status file (default <state-dir>/status.json)"},
	{Key: "parallel", Env: "FECDEPLOY_PARALLEL", Flag: "parallel", Doc: "archives downloaded at once (default 4)"},
	{Key: "retries", Env: "FECDEPLOY_RETRIES", Flag: "retries", Doc: "retries per request and resumes per download (default 8)"},
	{Key: "retry_wait_max", Env: "FECDEPLOY_RETRY_WAIT_MAX", Flag: "retry-wait-max", Doc: "longest backoff between retries (default 30s)"},
	{Key: "retry_after_cap", Env: "FECDEPLOY_RETRY_AFTER_CAP", Flag: "retry-after-cap", Doc: "cap on a server's Retry-After (default 60s)"},
	{Key: "idle_timeout", Env: "FECDEPLOY_IDLE_TIMEOUT", Flag: "idle-timeout", Doc: "longest wait for the next bytes of an answer (default 30s)"},
	{Key: "deadline", Env: "FECDEPLOY_DEADLINE", Flag: "deadline", Doc: "overall deadline for fetching and installing (default 10m)"},
	{Key: "script_timeout", Env: "FECDEPLOY_SCRIPT_TIMEOUT", Flag: "script-timeout", Doc: "timeout of each init script (default 5m)"},
	{Key: "start_jitter", Env: "FECDEPLOY_START_JITTER", Flag: "start-jitter", Doc: "random delay before a boot starts, against boot storms (default 5s)"},
	{Key: "public_keys", Env: "FECDEPLOY_PUBLIC_KEYS", Flag: "public-keys", Doc: "comma-separated PEM files of trusted INDEX signing keys; when set, unsigned INDEX files are refused"},
	{Key: "root_keys", Env: "FECDEPLOY_ROOT_KEYS", Flag: "root-keys", Doc: "comma-separated PEM files of the pinned root keys; when set, the FEC follows the storage's keyring (keys/keyring) and public_keys is ignored"},
	{Key: "ca_file", Env: "FECDEPLOY_CA_FILE", Flag: "ca-file", Doc: "PEM CA certificates for an https URL"},
	{Key: "report", Env: "FECDEPLOY_REPORT", Flag: "report", Cmdline: "fecdeploy.report", Doc: "release service URL the boot status is sent to, best effort (default: none)"},
	{Key: "dry_run", Env: "FECDEPLOY_DRY_RUN", Flag: "dry-run", IsBool: true, Doc: "report what would change; download no archive, run no script"},
	{Key: "force", Env: "FECDEPLOY_FORCE", Flag: "force", IsBool: true, Doc: "reinstall archives even when already installed"},
	{Key: "keep_previous", Env: "FECDEPLOY_KEEP_PREVIOUS", Flag: "keep-previous", IsBool: true, Doc: "keep each software's previous version for a rollback; older ones are removed (default true)"},
	{Key: "allow_http_redirect", Env: "FECDEPLOY_ALLOW_HTTP_REDIRECT", Flag: "allow-http-redirect", IsBool: true, Doc: "let an https URL follow a redirect to http (default false: refused)"},
}

// Settings returns every configuration key, in the order of fec-boot --help.
func Settings() []Setting { return append([]Setting(nil), settings...) }

// defaults are the values below every source. Config's own zero values
// supply the rest (see its fields); only a boot started by ReadConfig waits
// out a start jitter.
var defaults = map[string]string{"start_jitter": "5s"}

// Sources say where ReadConfig finds the settings, in decreasing
// precedence: Values (a command's flags), the environment, the kernel
// command line, the configuration file, the defaults.
type Sources struct {
	// Values are settings by key (Setting.Key), e.g. from flags; they win
	// over every other source. Booleans are "true"/"false".
	Values map[string]string
	// Getenv reads the environment; nil means none.
	Getenv func(string) string
	// ConfPath is the configuration file. "" means $FECDEPLOY_CONF, else
	// DefaultConfPath. A missing file is fine only at the default path.
	ConfPath string
	// CmdlinePath is the kernel command line (fecdeploy.url=,
	// fecdeploy.fec=). "" means $FECDEPLOY_CMDLINE, else
	// DefaultCmdlinePath; "none" ignores it. A missing file is fine.
	CmdlinePath string
}

// ReadConfig builds a Config from the sources. The result records the files
// it read in ConfPath and CmdlinePath. Errors wrap ErrConfig and say which
// file, key or value is wrong.
func ReadConfig(src Sources) (Config, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	// Lowest precedence first; later layers overwrite.
	vals := map[string]string{}
	for k, v := range defaults {
		vals[k] = v
	}
	confPath, confExplicit := DefaultConfPath, false
	if v := getenv("FECDEPLOY_CONF"); v != "" {
		confPath, confExplicit = v, true
	}
	if src.ConfPath != "" {
		confPath, confExplicit = src.ConfPath, true
	}
	conf, err := readConf(confPath, confExplicit)
	if err != nil {
		return Config{}, err
	}
	for k, v := range conf {
		vals[k] = v
	}
	cmdlinePath := DefaultCmdlinePath
	if v := getenv("FECDEPLOY_CMDLINE"); v != "" {
		cmdlinePath = v
	}
	if src.CmdlinePath != "" {
		cmdlinePath = src.CmdlinePath
	}
	if cmdlinePath != "none" {
		params, err := readCmdline(cmdlinePath)
		if err != nil {
			return Config{}, err
		}
		for _, s := range settings {
			if v, ok := params[s.Cmdline]; ok && s.Cmdline != "" {
				vals[s.Key] = v
			}
		}
	}
	for _, s := range settings {
		if v := getenv(s.Env); v != "" {
			vals[s.Key] = v
		}
	}
	for _, s := range settings {
		if v, ok := src.Values[s.Key]; ok {
			vals[s.Key] = v
		}
	}
	cfg, err := fromValues(vals)
	if err != nil {
		return Config{}, err
	}
	cfg.ConfPath, cfg.CmdlinePath = confPath, cmdlinePath
	return cfg, nil
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
	c.Report = strings.TrimRight(vals["report"], "/")
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
	keep := true
	boolean("keep_previous", &keep)
	c.DropPrevious = !keep
	boolean("allow_http_redirect", &c.AllowHTTPRedirect)
	if err != nil {
		return c, err
	}
	if c.PublicKeys, err = readKeyFiles("public key", vals["public_keys"]); err != nil {
		return c, err
	}
	if c.RootKeys, err = readKeyFiles("root key", vals["root_keys"]); err != nil {
		return c, err
	}
	return c, nil
}

// readKeyFiles reads the PEM public keys of a comma-separated file list.
func readKeyFiles(what, list string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, p := range splitList(list) {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, configErr("reading %s file: %v", what, err)
		}
		keys, err := index.ParsePublicKeys(data)
		if err != nil {
			return nil, configErr("%s file %s: %v", what, p, err)
		}
		out = append(out, keys...)
	}
	return out, nil
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
		known[s.Key] = true
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
