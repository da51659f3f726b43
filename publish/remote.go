package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/verify"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// ParseStorageURL splits ssh://[user@]host[:port]/path (the form of
// fec-pack -storage and FECDEPLOY_STORAGE for a storage on another host)
// into an SSH target and the storage directory there. ok is false for a
// plain directory.
func ParseStorageURL(s string) (ssh SSH, dir string, ok bool, err error) {
	if !strings.HasPrefix(s, "ssh://") {
		return SSH{}, "", false, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Path == "" || u.Path == "/" {
		return SSH{}, "", true, fmt.Errorf("%w: storage %q: want ssh://[user@]host[:port]/path/to/storage", storage.ErrBadRequest, s)
	}
	ssh.Host = u.Hostname()
	if u.User != nil {
		ssh.Host = u.User.Username() + "@" + ssh.Host
	}
	if p := u.Port(); p != "" {
		fmt.Sscan(p, &ssh.Port)
	}
	return ssh, u.Path, true, nil
}

// RemoteRequest publishes through `fecctl receive` run on the writer host.
type RemoteRequest struct {
	Request
	SSH SSH
	// Dir is the storage directory on the writer host.
	Dir string
	// Fecctl is the fecctl binary on the writer host. Default "fecctl".
	Fecctl string
	// SignKey, when set, is passed to fecctl receive -sign-key (a path on
	// the writer host).
	SignKey string
}

// RemoteRelease packs locally into a temporary file (so the sha256 is known
// before anything is sent), then streams the archive over ssh to `fecctl
// receive` on the writer host, which checks size and sha256 on arrival,
// takes the storage lock there and publishes, links and prunes as Release
// does locally: identical bytes are a no-op, different bytes under an
// existing productive version are refused (storage.ErrImmutable).
func RemoteRelease(ctx context.Context, req RemoteRequest) (Result, error) {
	var res Result
	if req.Kind == "" {
		req.Kind = index.KindSoftware
	}
	if req.Format == "" {
		req.Format = index.FormatZstd
	}
	if _, err := version.Parse(req.Version); err != nil {
		return res, err
	}
	if err := index.CheckName(string(req.Kind), req.Name); err != nil {
		return res, err
	}
	tmpDir, err := os.MkdirTemp("", "fecdeploy-remote-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmpDir)
	file := filepath.Join(tmpDir, "release."+req.Format.Extension())
	stats, err := PackInput(ctx, file, req.Request)
	if err != nil {
		return res, err
	}
	f, err := os.Open(file)
	if err != nil {
		return res, err
	}
	defer f.Close()
	fecctl := req.Fecctl
	if fecctl == "" {
		fecctl = "fecctl"
	}
	args := []string{fecctl, "receive", "-storage", req.Dir, "-kind", string(req.Kind), "-name", req.Name,
		"-version", req.Version, "-sha256", stats.SHA256, "-size", fmt.Sprint(stats.Size), "-json"}
	if req.Arch != "" {
		args = append(args, "-arch", req.Arch)
	}
	if len(req.Link) > 0 {
		args = append(args, "-link", strings.Join(req.Link, ","))
	}
	if req.Force {
		args = append(args, "-force")
	}
	if !req.Prune {
		args = append(args, "-no-prune")
	}
	if req.Policy.Keep > 0 {
		args = append(args, "-keep", fmt.Sprint(req.Policy.Keep))
	}
	if req.SignKey != "" {
		args = append(args, "-sign-key", req.SignKey)
	}
	var out bytes.Buffer
	err = req.SSH.Run(ctx, "fecctl receive", shellJoin(args...), f, &out)
	res.Pack = stats
	var re *RemoteError
	if errors.As(err, &re) {
		return res, remoteClass(re)
	}
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("fecctl receive on %s answered something else than its JSON result: %v: %q", req.SSH.Host, err, out.String())
	}
	res.Pack = stats
	return res, nil
}

// remoteClass maps fecctl's exit code back to the error class a local
// publish gives, so fec-pack exits with the same code either way.
func remoteClass(re *RemoteError) error {
	var class error
	switch re.ExitCode {
	case 2:
		class = storage.ErrBadRequest
	case 3:
		class = storage.ErrNotFound
	case 4:
		class = storage.ErrImmutable
		if !strings.Contains(re.Stderr, "immutable") {
			class = storage.ErrInUse
		}
	case 5:
		class = context.DeadlineExceeded
	default:
		return re
	}
	return fmt.Errorf("%w: %w", class, re)
}

// ReceiveRequest is what `fecctl receive` publishes: an archive arriving on
// Body with the size and sha256 the sender computed.
type ReceiveRequest struct {
	Request // Kind, Name, Version, Arch, Link, Force, Prune, Policy, Logger
	SHA256  string
	Size    int64
	Body    io.Reader
}

// Receive publishes an archive that arrives on a stream (from fec-pack on
// another host, through ssh): the bytes are checked against the sender's
// size and sha256 before the storage lock is taken for the final rename,
// so a truncated or altered transfer publishes nothing. It then links and
// prunes as Release does.
func Receive(ctx context.Context, st *storage.Storage, req ReceiveRequest) (Result, error) {
	var res Result
	if req.Kind == "" {
		req.Kind = index.KindSoftware
	}
	if len(req.SHA256) != 64 || req.Size <= 0 {
		return res, fmt.Errorf("%w: -sha256 (64 hex digits) and -size of the archive are required", storage.ErrBadRequest)
	}
	v, err := version.Parse(req.Version)
	if err != nil {
		return res, err
	}
	logger := req.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	vr := verify.NewReader(req.Body, req.Size, req.SHA256)
	pub, err := st.Publish(ctx, storage.PublishRequest{
		Kind: req.Kind, Name: req.Name, Version: v, Arch: req.Arch,
		Body: vr, Force: req.Force, Logger: logger,
	})
	if err != nil {
		if errors.Is(err, verify.ErrDigestMismatch) || errors.Is(err, verify.ErrSizeMismatch) {
			return res, fmt.Errorf("%w: the archive did not arrive as sent (nothing was published): %w", storage.ErrBadRequest, err)
		}
		return res, err
	}
	res.Published = pub
	return afterPublish(ctx, st, req.Request, v, res, logger)
}
