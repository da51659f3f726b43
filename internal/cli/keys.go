package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
)

// DefaultSigningKey is where the writer host keeps the INDEX signing key when
// neither -sign-key nor $FECDEPLOY_SIGNING_KEY names one. It lives outside the
// served tree on purpose.
const DefaultSigningKey = "/etc/fecdeploy/signing.key"

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

// WriteKeyPair creates a new ed25519 INDEX signing key pair as
// prefix+".key" (PEM, mode 0600, stays on the writer host) and
// prefix+".pub" (mode 0644, goes to every FEC), creating missing
// directories. Existing keys are never overwritten: the error wraps
// fs.ErrExist and says so, and no half pair is left behind.
func WriteKeyPair(prefix string) (keyPath, pubPath string, err error) {
	priv, pub, err := index.GenerateKey()
	if err != nil {
		return "", "", err
	}
	keyPath, pubPath = prefix+".key", prefix+".pub"
	if err := WriteNew(keyPath, priv, 0o600); err != nil {
		return "", "", err
	}
	if err := WriteNew(pubPath, pub, 0o644); err != nil {
		// a private key without its public half is of no use: take it back
		_ = durable.Remove(filepath.Dir(keyPath), filepath.Base(keyPath))
		return "", "", err
	}
	return keyPath, pubPath, nil
}

// WriteNew writes a file that must not exist yet (keys, a shell client put
// into an image), creating missing directories (0755). The file appears
// whole and durably (internal/durable.WriteNew); an existing file gives an
// error wrapping fs.ErrExist that says the file was not overwritten.
func WriteNew(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := durable.WriteNew(path, data, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w (refusing to overwrite)", err)
		}
		return err
	}
	return nil
}
