package cli

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/storage"
)

// DefaultSigningKey is where the writer host keeps the INDEX signing key when
// neither -sign-key nor $FECDEPLOY_SIGNING_KEY names one. It lives outside the
// served tree on purpose.
const DefaultSigningKey = "/etc/fecdeploy/signing.key"

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

// LoadSigningKey reads the key at path, or at DefaultSigningKey when path is
// empty and that file exists. No key configured and none at the default place
// gives (nil, nil).
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultSigningKey
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading signing key %s: %w", path, err)
	}
	key, err := index.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return key, nil
}

// EnvOr returns $key, or def when it is empty.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
