package cli

import (
	"flag"
	"log/slog"
	"os"
	"strings"

	"github.com/fair-acc/fecdeploy/storage"
)

// StorageFlags are the flags every storage-writing command shares.
type StorageFlags struct {
	Dir          string
	SignKey      string
	StateDir     string
	AllowedRoots string
	Verbose      bool
}

// DefaultStateDir is the writer's state directory (last INDEX serial,
// archive check cache) when neither -state-dir nor $FECDEPLOY_STATE_DIR
// names one; it is used only when it exists. It must be outside the served
// tree and outside the storage's backups' restore path.
const DefaultStateDir = "/var/lib/fecdeploy"

// Register declares -storage, -sign-key and -v on fs.
func (f *StorageFlags) Register(fs *flag.FlagSet) {
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
	opts := []storage.Option{storage.WithLogger(f.Logger())}
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
