package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/storage"
)

// StorageFlags are the flags every storage-writing command shares.
type StorageFlags struct {
	Dir          string
	SignKey      string
	StateDir     string
	AllowedRoots string
	Verbose      bool
	Wait         time.Duration // -wait: how long to wait for the storage lock
	// Stderr receives the "waiting for the storage lock held by …" line
	// (default os.Stderr); Prog names the command in it.
	Stderr io.Writer
	Prog   string
}

// DefaultStateDir is the writer's state directory (last INDEX serial,
// archive check cache) when neither -state-dir nor $FECDEPLOY_STATE_DIR
// names one; it is used only when it exists. It must be outside the served
// tree and outside the storage's backups' restore path.
const DefaultStateDir = "/var/lib/fecdeploy"

// DefaultLockWait is how long a command waits for the storage lock unless -wait says otherwise.
const DefaultLockWait = 2 * time.Minute

// Register declares -storage, -sign-key, -state-dir, -allowed-roots, -wait and -v on fs.
func (f *StorageFlags) Register(fs *flag.FlagSet) {
	fs.DurationVar(&f.Wait, "wait", DefaultLockWait,
		"how long to wait for the storage lock another writer holds (0: no limit); exit 5 after that")
	fs.StringVar(&f.Dir, "storage", EnvOr("FECDEPLOY_STORAGE", "/srv/web-storage"), "web storage directory ($FECDEPLOY_STORAGE)")
	fs.StringVar(&f.SignKey, "sign-key", os.Getenv("FECDEPLOY_SIGNING_KEY"),
		"ed25519 private key (PEM) to sign INDEX files with ($FECDEPLOY_SIGNING_KEY; default "+DefaultSigningKey+" when it exists)")
	fs.StringVar(&f.StateDir, "state-dir", os.Getenv("FECDEPLOY_STATE_DIR"),
		"writer state outside the storage: last INDEX serial, archive check cache ($FECDEPLOY_STATE_DIR; default "+DefaultStateDir+" when it exists)")
	fs.StringVar(&f.AllowedRoots, "allowed-roots", EnvOr("FECDEPLOY_ALLOWED_ROOTS", "opt"),
		"comma-separated roots the FECs allow archives to write below, for the archive check of link and verify ($FECDEPLOY_ALLOWED_ROOTS)")
	fs.BoolVar(&f.Verbose, "v", false, "log what is done")
}

// Open opens the storage with the signing key (when one is configured or the
// default key file exists) and a logger on stderr.
func (f *StorageFlags) Open() (*storage.Storage, error) {
	if strings.HasPrefix(f.Dir, "ssh://") {
		return nil, fmt.Errorf("%w: the storage %s is on another host: only fec-pack publishes through ssh://; run this command on the writer host (ssh writer fecctl ...)", ErrUsage, f.Dir)
	}
	opts := []storage.Option{storage.WithLogger(f.Logger()), storage.WithLockWait(f.Wait, f.lockNotice)}
	key, err := LoadSigningKey(f.SignKey)
	if err != nil {
		return nil, err
	}
	if key != nil {
		opts = append(opts, storage.WithSigningKey(key))
	}
	if f.AllowedRoots != "" {
		opts = append(opts, storage.WithAllowedRoots(strings.Split(f.AllowedRoots, ",")))
	}
	if dir := f.stateDir(); dir != "" {
		opts = append(opts, storage.WithStateDir(dir))
	}
	return storage.Open(f.Dir, opts...)
}

func (f *StorageFlags) stateDir() string {
	if f.StateDir != "" {
		return f.StateDir
	}
	if fi, err := os.Stat(DefaultStateDir); err == nil && fi.IsDir() {
		return DefaultStateDir
	}
	return ""
}

// lockNotice tells, once a writer has waited a second, whom it waits for.
func (f *StorageFlags) lockNotice(holder string) {
	w, prog := f.Stderr, f.Prog
	if w == nil {
		w = os.Stderr
	}
	if prog == "" {
		prog = filepath.Base(os.Args[0])
	}
	limit := "no limit"
	if f.Wait > 0 {
		limit = "at most " + f.Wait.String()
	}
	fmt.Fprintf(w, "%s: waiting for the storage lock held by %s (%s; -wait)\n", prog, holder, limit)
}

// Logger logs warnings (info with -v) to stderr.
func (f *StorageFlags) Logger() *slog.Logger {
	level := slog.LevelWarn
	if f.Verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// EnvOr returns $key, or def when it is empty.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
