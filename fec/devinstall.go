package fec

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/verify"
)

// Dev releases are archives copied straight onto one FEC (fec-pack -dev
// -to-fec) instead of being published to the web storage. They are
// installed with InstallArchive, verified and atomic as at boot, and
// recorded in the state like an INDEX entry, with "dev=1":
//
//	<state>/installed/software/<name>   "sha256=<hex> version=<v> path=dev:<file> dev=1 prefix=<p> installed=<RFC 3339>\n"
//
// A later boot keeps a dev install as long as the FEC's INDEX does not name
// that software: it is listed to the init scripts as a dev release
// (FECDEPLOY_DEV_SOFTWARE, FECDEPLOY_SW_<NAME>_DEV=1), so start scripts do
// not run it as a daemon. When the INDEX names the software, the INDEX
// wins: its archive is installed over the dev release and the boot says so.

// ArchiveRequest is one archive file to install with InstallArchive.
type ArchiveRequest struct {
	// File is the compressed tar on this machine (zstd, gzip or xz).
	File string
	// SHA256 (hex) the file must have; required: nothing is unpacked from a
	// file whose bytes are not the ones that were sent.
	SHA256 string
	// Name is the software name the install is recorded under. Required.
	Name string
	// Version recorded for it. Default "dev".
	Version string
	// Prefix is the directory (relative to Root) the archive unpacks into,
	// e.g. opt/fesa/Foo_DU/dev; RemoveDev removes it. Optional.
	Prefix string
}

// DevRelease is one dev install recorded in the state.
type DevRelease struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	File      string    `json:"file"`
	Prefix    string    `json:"prefix,omitempty"`
	Installed time.Time `json:"installed"`
}

// ActionKeptDev marks, in a boot's status, a dev install the INDEX does not
// name: kept as it is.
const ActionKeptDev = "kept-dev"

// localDefaults fills the settings InstallArchive, DevReleases and
// RemoveDev need; no base URL is needed.
func (c Config) localDefaults() (Config, error) {
	if c.BaseURL == "" {
		c.BaseURL = "http://localhost/" // not contacted
	}
	d, _, err := c.withDefaults()
	return d, err
}

// InstallArchive installs one archive file the way Boot installs a
// download: the sha256 is checked while the archive is unpacked into
// staging below the allowed roots, and the staged tree is committed only
// when every byte verified and every entry passed the safety rules. It is
// then recorded as a dev release (see the package's state description).
// Errors wrap ErrConfig, ErrVerify or ErrInstall.
func InstallArchive(ctx context.Context, cfg Config, req ArchiveRequest) (EntryStatus, error) {
	start := time.Now()
	if req.Version == "" {
		req.Version = index.DevVersion
	}
	es := EntryStatus{Kind: string(index.KindSoftware), Name: req.Name, Version: req.Version, Dev: true, SHA256: req.SHA256, Action: ActionFailed}
	cfg, err := cfg.localDefaults()
	if err != nil {
		return es, err
	}
	if err := index.CheckName("software", req.Name); err != nil {
		return es, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := index.CheckName("version", req.Version); err != nil {
		return es, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if len(req.SHA256) != 64 || strings.Trim(req.SHA256, "0123456789abcdef") != "" {
		return es, configErr("-sha256 %q is not a lowercase hex sha256 (64 characters): give the sha256 of the archive as sent", req.SHA256)
	}
	if req.Prefix != "" {
		req.Prefix = strings.Trim(filepath.ToSlash(req.Prefix), "/")
		if !filepath.IsLocal(req.Prefix) || !underAllowed(req.Prefix, cfg.AllowedRoots) {
			return es, configErr("prefix %q must lie below one of the allowed roots %s", req.Prefix, strings.Join(cfg.AllowedRoots, ","))
		}
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil { // as Boot does
		return es, fmt.Errorf("%w: creating the root: %v", ErrInstall, err)
	}
	f, err := os.Open(req.File)
	if err != nil {
		return es, fmt.Errorf("%w: %v", ErrInstall, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return es, fmt.Errorf("%w: %v", ErrInstall, err)
	}
	if !info.Mode().IsRegular() {
		return es, configErr("%s is not a regular file", req.File)
	}
	vr := verify.NewReader(f, info.Size(), req.SHA256)
	staged, err := archive.Stage(ctx, vr, cfg.Root, archive.UnpackOptions{AllowedRoots: cfg.AllowedRoots})
	if err == nil {
		if _, err = io.Copy(io.Discard, vr); err != nil {
			staged.Discard()
		}
	}
	if err != nil {
		if _, verr := io.Copy(io.Discard, vr); verr != nil && isVerifyErr(verr) {
			err = fmt.Errorf("%w (%v)", verr, err)
		}
		err = classify(ctx, fmt.Errorf("%s: %w", req.File, err))
		es.Error = err.Error()
		return es, err
	}
	if _, err := staged.Commit(); err != nil {
		err = classify(ctx, fmt.Errorf("committing %s into %s: %w", req.File, cfg.Root, err))
		es.Error = err.Error()
		return es, err
	}
	if err := syncFS(cfg.Root); err != nil {
		cfg.Logger.Warn("cannot flush the installed files to disk", "root", cfg.Root, "error", err.Error())
	}
	line := record{SHA256: req.SHA256, Version: req.Version, Path: "dev:" + filepath.Base(req.File),
		Dev: true, Prefix: req.Prefix, Installed: time.Now().UTC().Format(time.RFC3339)}.line()
	p := filepath.Join(cfg.StateDir, "installed", string(index.KindSoftware), req.Name)
	if err := writeFileAtomic(p, []byte(line), 0o644); err != nil {
		err = fmt.Errorf("%w: installed, but recording it in %s failed: %v", ErrInstall, p, err)
		es.Error = err.Error()
		return es, err
	}
	es.Action, es.Bytes, es.DurationMS = ActionInstalled, info.Size(), time.Since(start).Milliseconds()
	cfg.Logger.Info("dev release installed", "name", req.Name, "version", req.Version, "sha256", req.SHA256, "file", req.File)
	return es, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func underAllowed(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return p != r
		}
	}
	return false
}

// DevReleases lists the dev installs recorded in the state, by name.
func DevReleases(cfg Config) ([]DevRelease, error) {
	cfg, err := cfg.localDefaults()
	if err != nil {
		return nil, err
	}
	return devReleases(cfg.StateDir)
}

func devReleases(stateDir string) ([]DevRelease, error) {
	dir := filepath.Join(stateDir, "installed", string(index.KindSoftware))
	des, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInstall, err)
	}
	var out []DevRelease
	for _, de := range des {
		if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			continue
		}
		r, ok := parseRecord(data)
		if !ok || !r.Dev {
			continue
		}
		d := DevRelease{Name: de.Name(), Version: r.Version, SHA256: r.SHA256, File: strings.TrimPrefix(r.Path, "dev:")}
		if r.Prefix != "-" {
			d.Prefix = r.Prefix
		}
		d.Installed, _ = time.Parse(time.RFC3339, r.Installed)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveDev removes a dev install: its files below the recorded prefix (when
// it has one) and its record. A software the INDEX installed (no dev mark)
// is refused: that is the storage's business (fecctl unlink).
func RemoveDev(cfg Config, name string) (DevRelease, error) {
	cfg, err := cfg.localDefaults()
	if err != nil {
		return DevRelease{}, err
	}
	devs, err := devReleases(cfg.StateDir)
	if err != nil {
		return DevRelease{}, err
	}
	for _, d := range devs {
		if d.Name != name {
			continue
		}
		if d.Prefix != "" {
			if !filepath.IsLocal(d.Prefix) || !underAllowed(d.Prefix, cfg.AllowedRoots) {
				return d, fmt.Errorf("%w: recorded prefix %q of dev release %s is not below the allowed roots; remove it by hand", ErrInstall, d.Prefix, name)
			}
			// No component of the prefix may be a symlink: RemoveAll must
			// not follow one out of the root.
			cur := cfg.Root
			for _, c := range strings.Split(d.Prefix, "/") {
				cur = filepath.Join(cur, c)
				if fi, err := os.Lstat(cur); err == nil && fi.Mode()&os.ModeSymlink != 0 {
					return d, fmt.Errorf("%w: %s is a symlink; dev release %s not removed, remove it by hand", ErrInstall, cur, name)
				}
			}
			if err := os.RemoveAll(filepath.Join(cfg.Root, filepath.FromSlash(d.Prefix))); err != nil {
				return d, fmt.Errorf("%w: removing %s: %v", ErrInstall, d.Prefix, err)
			}
		}
		p := filepath.Join(cfg.StateDir, "installed", string(index.KindSoftware), name)
		if err := os.Remove(p); err != nil {
			return d, fmt.Errorf("%w: %v", ErrInstall, err)
		}
		return d, nil
	}
	return DevRelease{}, configErr("no dev release %q on this FEC (fec-boot dev ls lists them)", name)
}

// keepDev says, for each dev install, which wins, and returns the status
// entries of the dev installs the INDEX does not name (kept as they are, so
// the scripts' environment lists them as dev releases). It runs before the
// archives are installed: an install of the INDEX's archive replaces the
// dev record.
func (s *session) keepDev(ix *index.Index) []EntryStatus {
	devs, err := devReleases(s.cfg.StateDir)
	if err != nil || len(devs) == 0 {
		return nil
	}
	var kept []EntryStatus
	for _, d := range devs {
		if e, ok := ix.Lookup(index.KindSoftware, d.Name); ok {
			s.cfg.Logger.Warn("the INDEX names this software, so the INDEX wins: its archive replaces the dev release copied onto this FEC",
				"name", d.Name, "dev_sha256", d.SHA256, "index_version", e.Version)
			continue
		}
		s.cfg.Logger.Info("dev release kept, the INDEX does not name it; start scripts see it as a dev release",
			"name", d.Name, "version", d.Version, "file", d.File)
		kept = append(kept, EntryStatus{Kind: string(index.KindSoftware), Name: d.Name, Version: d.Version, Dev: true, SHA256: d.SHA256, Action: ActionKeptDev})
	}
	return kept
}
