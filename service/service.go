// Package service is the release service behind cmd/fecd: an HTTP API
// (JSON under /api/v1) that publishes, links, switches, rolls back and
// prunes through the same storage and publish calls as fec-pack and fecctl
// (and so under the same storage lock), a database of releases, audit
// records and the FECs' status reports (SQLite or PostgreSQL), server-
// rendered pages comparing desired with actual state, and restarts/reboots
// over ssh in batches. See docs/service.md.
package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/storage"
)

// Errors of this package; test with errors.Is.
var (
	ErrBadRequest = errors.New("service: bad request")
	ErrNotFound   = errors.New("service: not found")
)

// Options configure a Service. Zero values mean the defaults listed.
type Options struct {
	// MaxUpload bounds a published archive. Default 2 GiB.
	MaxUpload int64
	// MaxJSON bounds a JSON request body. Default 64 KiB.
	MaxJSON int64
	// MaxReport bounds a status report. Default 1 MiB.
	MaxReport int64
	// UploadTimeout bounds a publish request (body included). Default 30m.
	UploadTimeout time.Duration
	// RequestTimeout bounds every other request. Default 30s.
	RequestTimeout time.Duration
	// Refresh is the pages' meta refresh interval. Default 30s; negative: none.
	Refresh time.Duration
	// Remote runs restart and reboot on FECs (nil: those requests are
	// refused with 501).
	Remote *Remote
	// BatchSize is the default number of FECs restarted or rebooted at once.
	// Default 5.
	BatchSize int
	Logger    *slog.Logger
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Service is the release service. Create with New, serve Handler().
type Service struct {
	st      *storage.Storage
	db      *DB
	opt     Options
	log     *slog.Logger
	mux     *http.ServeMux
	rebuilt string

	cacheMu    sync.Mutex
	indexCache map[string]cachedIndex // FEC -> its parsed INDEX file
}

// New returns a service over the storage and the database. When the
// database was just created (db.Created: first start, or the old one was
// lost), New rebuilds what it can from the storage (the FECs, the releases
// they link) and records that in an audit record and on every page.
func New(ctx context.Context, st *storage.Storage, db *DB, opt Options) (*Service, error) {
	if opt.MaxUpload <= 0 {
		opt.MaxUpload = 2 << 30
	}
	if opt.MaxJSON <= 0 {
		opt.MaxJSON = 64 << 10
	}
	if opt.MaxReport <= 0 {
		opt.MaxReport = 1 << 20
	}
	if opt.UploadTimeout <= 0 {
		opt.UploadTimeout = 30 * time.Minute
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = 30 * time.Second
	}
	if opt.Refresh == 0 {
		opt.Refresh = 30 * time.Second
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 5
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Service{st: st, db: db, opt: opt, log: opt.Logger, indexCache: map[string]cachedIndex{}}
	if db.Created {
		if err := s.rebuild(ctx); err != nil {
			return nil, fmt.Errorf("rebuilding the database from the storage: %w", err)
		}
	}
	var err error
	if s.rebuilt, err = db.Meta(ctx, "rebuilt"); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// rebuild fills a new database from the storage: one release record
// (actor "storage") per version some FEC links, and an audit record saying
// that the history before now is not known.
func (s *Service) rebuild(ctx context.Context) error {
	links, err := s.st.Links(ctx)
	if err != nil {
		return err
	}
	type key struct{ kind, name, version string }
	fecs := map[key][]string{}
	for _, l := range links {
		if l.Target == "" || l.Software == "" || l.Version == "" || l.FEC == "global" {
			continue
		}
		k := key{string(l.TargetKind), l.Software, l.Version}
		fecs[k] = append(fecs[k], l.FEC)
	}
	keys := make([]key, 0, len(fecs))
	for k := range fecs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].name+"\x00"+keys[i].version < keys[j].name+"\x00"+keys[j].version
	})
	now := s.opt.Now()
	for _, k := range keys {
		if err := s.db.AddRelease(ctx, Release{At: now, Actor: "storage", Kind: k.kind, Name: k.name, Version: k.version,
			FECs: fecs[k], Result: "rebuilt from the storage (linked when the database was created)"}); err != nil {
			return err
		}
	}
	all, err := s.st.FECs(ctx)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("database created: %d FECs and %d linked versions taken from the storage %s; earlier history and status reports are not known", len(all), len(keys), s.st.Base())
	s.log.Warn(msg)
	if err := s.db.AddAudit(ctx, Audit{At: now, Actor: "fecd", Action: "rebuild", OK: true, Detail: msg}); err != nil {
		return err
	}
	return s.db.SetMeta(ctx, "rebuilt", now.UTC().Format(time.RFC3339))
}

// Handler returns the HTTP handler (API and pages).
func (s *Service) Handler() http.Handler { return s.mux }

// State is a FEC's actual state compared with its desired state.
type State string

// States of a FEC.
const (
	StateUpToDate State = "up to date"     // last report booted the current INDEX, no failure
	StateBehind   State = "behind"         // the INDEX changed since the last report
	StateFailed   State = "failed"         // the last boot failed (entries, scripts or the INDEX)
	StateNever    State = "never reported" // no report since the database exists
	StateUnknown  State = "no INDEX"       // the storage cannot build its INDEX (broken link, ...)
)

// FECView is one row of the fleet: desired (the storage) against actual
// (the last report).
type FECView struct {
	Name        string            `json:"name"`
	Arch        string            `json:"arch"`
	State       State             `json:"state"`
	IndexSHA256 string            `json:"index_sha256"` // of the INDEX in the storage now
	IndexError  string            `json:"index_error,omitempty"`
	Entries     []index.Entry     `json:"-"`
	Desired     map[string]string `json:"desired"` // software/configuration name -> version
	Report      *StoredReport     `json:"report,omitempty"`
	Actual      map[string]string `json:"actual,omitempty"`
	Failures    []string          `json:"failures,omitempty"`
	Dev         []string          `json:"dev,omitempty"` // software running a dev release
	ReportAge   string            `json:"report_age,omitempty"`
	LastBoot    time.Time         `json:"last_boot,omitempty"`
}

// readIndex reads the FEC's INDEX file as FECs fetch it: its sha256 and
// entries (the desired state). One file read per FEC keeps the fleet page
// cheap for a thousand FECs.
// An INDEX is replaced by an atomic rename, so a changed one has a new
// inode: files whose inode, size and mtime are unchanged are not read again.
func (s *Service) readIndex(fec string) (sha string, ix *index.Index, err error) {
	rel, err := storage.IndexPath(fec)
	if err != nil {
		return "", nil, err
	}
	p := filepath.Join(s.st.Base(), filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err != nil {
		return "", nil, err
	}
	key := indexKey{size: st.Size(), mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		key.ino = sys.Ino
	}
	s.cacheMu.Lock()
	c, ok := s.indexCache[fec]
	s.cacheMu.Unlock()
	if ok && c.key == key {
		return c.sha, c.ix, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", nil, err
	}
	h := sha256.Sum256(data)
	ix, err = index.ParseBytes(data)
	sha = hex.EncodeToString(h[:])
	if err == nil && int64(len(data)) == key.size {
		s.cacheMu.Lock()
		s.indexCache[fec] = cachedIndex{key: key, sha: sha, ix: ix}
		s.cacheMu.Unlock()
	}
	return sha, ix, err
}

type indexKey struct {
	ino   uint64
	size  int64
	mtime int64
}

type cachedIndex struct {
	key indexKey
	sha string
	ix  *index.Index
}

// bootStatus is the part of a status report the service reads (the
// clients' status file; see docs/boot.md).
type bootStatus struct {
	FEC         string    `json:"fec"`
	Command     string    `json:"command"`
	DryRun      bool      `json:"dry_run"`
	IndexSHA256 string    `json:"index_sha256"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Entries     []struct {
		Kind    string `json:"kind"`
		Name    string `json:"name"`
		Version string `json:"version"`
		Dev     bool   `json:"dev"`
		Action  string `json:"action"`
		Error   string `json:"error"`
	} `json:"entries"`
	Scripts []struct {
		Name     string `json:"name"`
		Action   string `json:"action"`
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
	} `json:"scripts"`
	ExitCode *int   `json:"exit_code"`
	Error    string `json:"error"`
}

func (s *Service) view(name string, rep *StoredReport, now time.Time) FECView {
	v := FECView{Name: name, Desired: map[string]string{}}
	sha, ix, err := s.readIndex(name)
	v.IndexSHA256 = sha
	if err != nil {
		v.IndexError = "INDEX: " + err.Error()
	} else {
		v.Entries = ix.Entries
		for _, e := range ix.Entries {
			if e.Kind == index.KindSoftware || e.Kind == index.KindConfiguration {
				v.Desired[e.Name] = e.Version
			}
		}
	}
	v.State = StateNever
	if rep != nil {
		v.Report = rep
		v.ReportAge = age(now.Sub(rep.Received))
		v.LastBoot = rep.Finished
		var st bootStatus
		if json.Unmarshal([]byte(rep.Body), &st) == nil {
			v.Actual = map[string]string{}
			for _, e := range st.Entries {
				if e.Kind != string(index.KindSoftware) && e.Kind != string(index.KindConfiguration) {
					continue
				}
				if e.Action == "failed" {
					v.Failures = append(v.Failures, e.Name+": "+e.Error)
					continue
				}
				v.Actual[e.Name] = e.Version
				if e.Dev {
					v.Dev = append(v.Dev, e.Name)
				}
			}
			for _, sc := range st.Scripts {
				if sc.Action == "failed" {
					v.Failures = append(v.Failures, "script "+sc.Name+": "+sc.Error)
				}
			}
			if len(v.Failures) == 0 && st.Error != "" {
				v.Failures = append(v.Failures, st.Error)
			}
		}
		switch {
		case rep.ExitCode != 0 || rep.Failed > 0 || len(v.Failures) > 0:
			v.State = StateFailed
		case v.IndexSHA256 != "" && rep.IndexSHA256 != v.IndexSHA256:
			v.State = StateBehind
		default:
			v.State = StateUpToDate
		}
	}
	if v.IndexError != "" && v.State != StateFailed {
		v.State = StateUnknown
	}
	return v
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// Fleet returns one view per FEC of the storage, sorted by name.
func (s *Service) Fleet(ctx context.Context) ([]FECView, error) {
	names, err := s.st.FECs(ctx)
	if err != nil {
		return nil, err
	}
	reps, err := s.db.Reports(ctx)
	if err != nil {
		return nil, err
	}
	now := s.opt.Now()
	out := make([]FECView, 0, len(names))
	for _, n := range names {
		var rp *StoredReport
		if r, ok := reps[n]; ok {
			rp = &r
		}
		out = append(out, s.view(n, rp, now))
	}
	return out, nil
}

// FECDetail returns one FEC's view.
func (s *Service) FECDetail(ctx context.Context, name string) (FECView, error) {
	if _, err := s.st.FEC(ctx, name); err != nil {
		return FECView{}, err
	}
	r, ok, err := s.db.Report(ctx, name)
	if err != nil {
		return FECView{}, err
	}
	var rp *StoredReport
	if ok {
		rp = &r
	}
	v := s.view(name, rp, s.opt.Now())
	if info, err := s.st.FEC(ctx, name); err == nil {
		v.Arch = info.Config.Arch
		if info.IndexError != nil {
			v.IndexError = info.IndexError.Error()
		}
	}
	return v, nil
}

// knownFEC reports whether the storage has the FEC (its folder with an
// INDEX): one stat, not a listing, so a boot storm stays cheap.
func (s *Service) knownFEC(name string) bool {
	if index.CheckFECName(name) != nil || name == "global" {
		return false
	}
	rel, err := storage.IndexPath(name)
	if err != nil {
		return false
	}
	st, err := os.Stat(filepath.Join(s.st.Base(), filepath.FromSlash(rel)))
	return err == nil && st.Mode().IsRegular()
}

// fecsRunning returns the FECs whose INDEX lists software name.
func (s *Service) fecsRunning(ctx context.Context, name string) ([]string, error) {
	uses, err := s.st.Uses(ctx, index.KindSoftware, name, "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, u := range uses {
		if !seen[u.FEC] {
			seen[u.FEC] = true
			out = append(out, u.FEC)
		}
	}
	sort.Strings(out)
	return out, nil
}

func joinNonEmpty(xs ...string) string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return strings.Join(out, " ")
}
