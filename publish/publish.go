// Package publish is what fec-pack does, as one library call for build tools
// (devacc's make install, yocto-fesa3): pack a staged install tree under its
// unpack prefix, publish the archive into the web storage atomically and
// immutably, link it to FECs, and apply the retention plan to the software
// just released productively.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// Request describes one release.
type Request struct {
	Kind    index.Kind // KindSoftware (default) or KindConfiguration
	Name    string     // software or configuration name
	Version string     // strict semver, or "dev"
	Arch    string     // x86_64, i686, ppc, ... or "noarch"

	// SourceDir is the staged tree, or an archive of it in any common format
	// (see PackInput); its content lands below Prefix on the FEC.
	SourceDir string
	Prefix    string // unpack location relative to '/', e.g. opt/fesa/Foo_DU/1.2.0

	Format  index.Format // default: index.DefaultFormat(Arch) (gzip for ppc and noarch, else zstd)
	Level   int          // 0 = the format's default
	ModTime time.Time    // zero: $SOURCE_DATE_EPOCH or the epoch (reproducible)

	Link  []string // FECs to link right away
	Force bool     // replace different bytes under an existing productive version (logged)

	// Prune applies the retention plan to this software after a productive
	// release (never removes a linked version; see docs/operations.md).
	Prune  bool
	Policy version.Policy

	Progress func(done int64) // input bytes packed so far
	Logger   *slog.Logger
}

// Result tells what happened.
type Result struct {
	Published storage.Published    `json:"published"`
	Pack      archive.PackStats    `json:"pack"`
	Linked    []string             `json:"linked,omitempty"`
	Prune     *storage.PruneReport `json:"prune,omitempty"`
}

// Release packs, publishes, links and prunes. The archive is streamed from the
// packer into the storage's atomic publish: nothing appears under its final
// name until it is complete, and a failure anywhere leaves the storage as it
// was (links are made only after the publish succeeded).
func Release(ctx context.Context, st *storage.Storage, req Request) (Result, error) {
	var res Result
	if req.Kind == "" {
		req.Kind = index.KindSoftware
	}
	if req.Kind != index.KindSoftware && req.Kind != index.KindConfiguration {
		return res, fmt.Errorf("%w: kind %q: only software and configuration are published with fec-pack", storage.ErrBadRequest, req.Kind)
	}
	if req.SourceDir == "" || req.Prefix == "" {
		return res, fmt.Errorf("%w: a source directory and an unpack prefix (e.g. opt/fesa/%s/%s) are required", storage.ErrBadRequest, req.Name, req.Version)
	}
	if err := checkPrefix(req.Prefix); err != nil {
		return res, err
	}
	v, err := version.Parse(req.Version)
	if err != nil {
		return res, err
	}
	if req.Format == "" {
		req.Format = index.DefaultFormat(req.Arch)
	}
	if err := preflight(ctx, st, req, v); err != nil {
		return res, err
	}
	dir, cleanup, err := InputDir(ctx, req.SourceDir)
	if err != nil {
		return res, err
	}
	defer cleanup()
	req.SourceDir = dir
	logger := req.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	pr, pw := io.Pipe()
	packDone := make(chan error, 1)
	go func() {
		stats, err := archive.Pack(ctx, pw, req.SourceDir, archive.PackOptions{
			Format: req.Format, Level: req.Level, Prefix: req.Prefix, ModTime: req.ModTime, Progress: req.Progress,
		})
		res.Pack = stats
		pw.CloseWithError(err)
		packDone <- err
	}()
	pub, err := st.Publish(ctx, storage.PublishRequest{
		Kind: req.Kind, Name: req.Name, Version: v, Arch: req.Arch,
		Body: pr, Force: req.Force, Logger: logger,
	})
	pr.CloseWithError(io.ErrClosedPipe) // unblock the packer if Publish gave up early
	packErr := <-packDone
	if packErr != nil && !errors.Is(packErr, io.ErrClosedPipe) {
		return res, fmt.Errorf("packing %s: %w", req.SourceDir, packErr)
	}
	if err != nil {
		return res, err
	}
	res.Published = pub
	return afterPublish(ctx, st, req, v, res, logger)
}

// afterPublish logs the publish, links the release to req.Link and applies
// the retention plan.
func afterPublish(ctx context.Context, st *storage.Storage, req Request, v version.Version, res Result, logger *slog.Logger) (Result, error) {
	pub := res.Published
	logger.Info("published", "path", pub.Path, "sha256", pub.SHA256, "size", pub.Size, "unchanged", pub.Unchanged)

	for _, fec := range req.Link {
		if err := st.Link(ctx, fec, req.Kind, req.Name, req.Version); err != nil {
			return res, fmt.Errorf("published %s, but linking it to %s failed: %w", pub.Path, fec, err)
		}
		res.Linked = append(res.Linked, fec)
	}

	if req.Prune && req.Kind == index.KindSoftware && v.IsProductive(req.Policy) {
		plan, err := st.PlanPrune(ctx, req.Name, req.Policy, time.Now())
		if err != nil {
			return res, fmt.Errorf("published %s, but planning retention failed: %w", pub.Path, err)
		}
		rep, err := st.Prune(ctx, plan)
		if err != nil {
			return res, fmt.Errorf("published %s, but pruning old versions failed: %w", pub.Path, err)
		}
		res.Prune = &rep
	}
	return res, nil
}

// PackFile packs req.SourceDir into the file path only (no storage), written
// atomically: a temp file in the same directory, synced, renamed into place.
// Name, Version and Arch are not needed.
func PackFile(ctx context.Context, path string, req Request) (archive.PackStats, error) {
	if req.SourceDir == "" || req.Prefix == "" {
		return archive.PackStats{}, fmt.Errorf("%w: a source directory and an unpack prefix are required", storage.ErrBadRequest)
	}
	if err := checkPrefix(req.Prefix); err != nil {
		return archive.PackStats{}, err
	}
	if req.Format == "" {
		req.Format = index.DefaultFormat(req.Arch)
	}
	var stats archive.PackStats
	err := durable.WriteFrom(path, 0o644, func(w io.Writer) (err error) {
		stats, err = archive.Pack(ctx, w, req.SourceDir, archive.PackOptions{
			Format: req.Format, Level: req.Level, Prefix: req.Prefix, ModTime: req.ModTime, Progress: req.Progress,
		})
		return err
	})
	if err != nil {
		return stats, fmt.Errorf("packing %s into %s: %w", req.SourceDir, path, err)
	}
	return stats, nil
}

// preflight checks everything Release can know before it packs: kind, name,
// version and architecture as the storage will check them, the source
// directory, and each FEC to link (it exists, takes this architecture and can
// decompress the format). A refusal costs no packing and changes nothing.
func preflight(ctx context.Context, st *storage.Storage, req Request, v version.Version) error {
	if err := (storage.PublishRequest{Kind: req.Kind, Name: req.Name, Version: v, Arch: req.Arch}).Check(); err != nil {
		return err
	}
	// A colliding version (1.2.0-rc.1 next to 1.2.0-RC.1) is refused again
	// under the lock by Publish; checked here too so it costs no packing.
	existing, err := st.Versions(ctx, req.Kind, req.Name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err := version.CheckCollision(req.Version, existing); err != nil && !containsString(existing, req.Version) {
		return err
	}
	// The source is a directory or an input archive (read by InputDir).
	if fi, err := os.Stat(req.SourceDir); err != nil {
		return fmt.Errorf("source: %w", err)
	} else if !fi.IsDir() && !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: source %s is neither a directory nor an archive file", storage.ErrBadRequest, req.SourceDir)
	}
	if len(req.Link) > 0 {
		// Linking rewrites the FECs' INDEX: without the key a signed one
		// could not be, and the release would stop half-way.
		if err := st.RequireSigningKey(fmt.Sprintf("linking %s %s", req.Name, req.Version), req.Link...); err != nil {
			return err
		}
	}
	for _, fec := range req.Link {
		info, err := st.FEC(ctx, fec)
		if err != nil {
			return err
		}
		if req.Kind == index.KindSoftware && req.Arch != index.NoArch && req.Arch != info.Config.Arch {
			return fmt.Errorf("%w: %s %s is built for %s, FEC %s is %s; nothing was packed or published",
				storage.ErrArchMismatch, req.Name, req.Version, req.Arch, fec, info.Config.Arch)
		}
		if !info.Config.CanDecode(req.Format) {
			return fmt.Errorf("%w: FEC %s cannot decompress %s (decoders=%s); pack with -format %s; nothing was packed or published",
				storage.ErrNoDecoder, fec, req.Format, strings.Join(info.Config.Decoders, ","), index.DefaultFormat(info.Config.Arch))
		}
	}
	return nil
}

// checkPrefix refuses an unpack prefix that is absolute or climbs out, before
// anything is packed.
func checkPrefix(p string) error {
	if !filepath.IsLocal(p) || p == "." {
		return fmt.Errorf("%w: unpack prefix %q must be a relative path below / without \"..\" (e.g. opt/fesa/Foo_DU/1.2.0)", storage.ErrBadRequest, p)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
