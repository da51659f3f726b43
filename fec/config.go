package fec

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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
// means its default (listed with each field); ReadConfig fills a Config from
// a command's flags, the environment, the kernel command line and
// /etc/fecdeploy.conf.
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
	// [0, StartJitter], to spread a boot storm. Default 0 (ReadConfig: 5s).
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
	// DropPrevious removes, after a boot, the version directory of each
	// software's previous version too; by default it is kept for a fast
	// rollback (setting keep_previous, default true). Versions before the
	// previous one, and every version of software that left the INDEX, are
	// always removed (only what the client installed itself).
	DropPrevious bool
	// AllowHTTPRedirect lets an https base URL follow a redirect to http.
	// By default such a redirect is refused.
	AllowHTTPRedirect bool
	// MaxRestarts bounds how often one archive starts over from zero (a 200
	// answer to a Range request). Default 2.
	MaxRestarts int
	// RootKeys, when set, make Boot follow the storage's keyring
	// (keys/keyring, signed by a root key): the INDEX must be signed by a
	// key the keyring lists, and PublicKeys is ignored.
	RootKeys []ed25519.PublicKey
	// Now is the FEC's clock, for INDEX expiry (nil = time.Now).
	Now func() time.Time
	// Report is the release service's URL (e.g. http://fecd:8080): after a
	// boot the status is sent there, best effort (see Report). "" sends
	// nothing.
	Report string
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
	// CmdlinePath and ConfPath are the sources ReadConfig read (informational).
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

// withDefaults returns a copy with every zero field set to its default,
// validates it and returns the parsed base URL.
func (c Config) withDefaults() (Config, *url.URL, error) {
	if c.BaseURL == "" {
		return c, nil, configErr("no base URL: set --url, FECDEPLOY_URL, fecdeploy.url= on the kernel command line or url= in %s", DefaultConfPath)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, nil, configErr("base URL %q is not an http:// or https:// URL", redactString(c.BaseURL))
	}
	if c.FEC == "" {
		h, err := hostname()
		if err != nil {
			return c, nil, configErr("no FEC name given and the host name is unknown: %v", err)
		}
		c.FEC = shortHost(h)
	}
	if err := index.CheckFECName(c.FEC); err != nil {
		return c, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.Root == "" {
		c.Root = "/"
	}
	if !filepath.IsAbs(c.Root) {
		abs, err := filepath.Abs(c.Root)
		if err != nil {
			return c, nil, configErr("root %q: %v", c.Root, err)
		}
		c.Root = abs
	}
	// The caller's slice stays untouched: the cleaned roots are a copy.
	roots := make([]string, 0, len(c.AllowedRoots))
	for _, r := range c.AllowedRoots {
		clean := strings.Trim(filepath.ToSlash(r), "/")
		if !filepath.IsLocal(clean) || clean == "" || clean == "." {
			return c, nil, configErr("allowed root %q must be a directory below the root, like opt or opt/fesa", r)
		}
		roots = append(roots, clean)
	}
	if len(roots) == 0 {
		roots = []string{"opt"}
	}
	c.AllowedRoots = roots
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
			return c, nil, configErr("kind %q cannot be installed; use software, configuration or data (init scripts run at boot)", k)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ScriptOutput == nil {
		c.ScriptOutput = io.Discard
	}
	return c, u, nil
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
