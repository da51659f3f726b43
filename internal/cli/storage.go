package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/fair-acc/fecdeploy/storage"
)

// StorageFlags are the flags every storage-writing command shares.
type StorageFlags struct {
	Dir     string
	SignKey string
	Verbose bool
}

// Register declares -storage, -sign-key and -v on fs.
func (f *StorageFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Dir, "storage", EnvOr("FECDEPLOY_STORAGE", "/srv/web-storage"), "web storage directory ($FECDEPLOY_STORAGE)")
	fs.StringVar(&f.SignKey, "sign-key", os.Getenv("FECDEPLOY_SIGNING_KEY"),
		"ed25519 private key (PEM) to sign INDEX files with ($FECDEPLOY_SIGNING_KEY; default "+DefaultSigningKey+" when it exists)")
	fs.BoolVar(&f.Verbose, "v", false, "log what is done")
}

// Open opens the storage with the signing key (when one is configured or the
// default key file exists) and a logger on stderr.
func (f *StorageFlags) Open() (*storage.Storage, error) {
	if strings.HasPrefix(f.Dir, "ssh://") {
		return nil, fmt.Errorf("%w: the storage %s is on another host: only fec-pack publishes through ssh://; run this command on the writer host (ssh writer fecctl ...)", ErrUsage, f.Dir)
	}
	opts := []storage.Option{storage.WithLogger(f.Logger())}
	key, err := LoadSigningKey(f.SignKey)
	if err != nil {
		return nil, err
	}
	if key != nil {
		opts = append(opts, storage.WithSigningKey(key))
	}
	return storage.Open(f.Dir, opts...)
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
