// Package storage is the writer's side of the web storage: it changes the
// tree on the writer host, under its lock, so that every INDEX a FEC fetches
// names only complete, verified archives.
//
// One file per job: storage.go (Init, Open, the lock), paths.go (typed
// paths), fec.go (AddFEC, FECs, FEC, SetDecoders), publish.go (Publish),
// versions.go (Versions), link.go (Link, Unlink, LinkInit, AddGlobalScript),
// put.go (PutFile), uses.go (Uses), remove.go (RemoveVersion), switch.go
// (Switch, SwitchAll, Rollback), retention.go (PlanPrune, Prune), gather.go
// (the retention plan's input), linklog.go (the link log), resolve.go
// (Links, link resolution), reindex.go (BuildIndex, Reindex, Unsign),
// verify.go (Verify), clean.go (Clean), monitor.go (the monitoring
// declaration, kept in line with links: MonitorHosts, AddMonitorService),
// lockwait.go (WithLockWait, DescribeLockHolder), signing.go
// (RequireSigningKey: refuse before touching anything a change to a signed
// INDEX without the key), instance.go (a FEC's <DU>-instance configuration
// follows its software).
//
// The tree (docs/storage-layout.md has the full description):
//
//	<base>/.fecdeploy-storage                  marker file; Open refuses a dir without it (ErrNotStorage)
//	<base>/.lock                               the storage lock (flock, advisory)
//	<base>/fecs/global/<script>                shared init scripts
//	<base>/fecs/<FEC>/fec.conf                 key=value: arch=x86_64, decoders=gzip,xz,zstd
//	<base>/fecs/<FEC>/init/<NN-name>           script, or symlink -> ../../global/<script>; run in name order
//	<base>/fecs/<FEC>/software/<name>          symlink -> ../../../software/<name>/<version>/<archive>
//	<base>/fecs/<FEC>/configuration/<name>     archive file, or symlink -> ../../../configuration/<name>/<version>/<archive>
//	<base>/fecs/<FEC>/persistent-data/<name>.tar.<ext>   opt-in (present only for FECs that persist data)
//	<base>/fecs/<FEC>/INDEX, INDEX.sig         generated
//	<base>/software/<name>/<version>/<name>-<version>-<arch>.tar.<zst|gz|xz>   (+ .sha256 sidecar)
//	<base>/configuration/<name>/<version>/<name>-<version>.tar.<zst|gz|xz>     (+ .sha256 sidecar)
//
// Every mutating method takes the storage lock itself and regenerates the
// affected INDEX files last, after every archive they name exists. The lock
// is an advisory flock(2) on <base>/.lock: it only excludes writers that use
// it (this package and tools built on it), and it only works when the
// storage is on a local filesystem of the one writer host (not NFS).
package storage

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors returned by this package; test with errors.Is. Bad names wrap
// index.ErrBadName (an *index.NameError says which character and why).
var (
	ErrNotStorage   = errors.New("storage: not a fecdeploy web storage")
	ErrBadRequest   = errors.New("storage: bad request")
	ErrUnknownFEC   = errors.New("storage: unknown FEC")
	ErrExists       = errors.New("storage: already exists")
	ErrNotFound     = errors.New("storage: not found")
	ErrImmutable    = errors.New("storage: published version is immutable")
	ErrArchMismatch = errors.New("storage: architecture mismatch")
	ErrNoDecoder    = errors.New("storage: FEC cannot decompress this archive format")
	ErrBrokenLink   = errors.New("storage: broken link")
	ErrInUse        = errors.New("storage: in use")
	// ErrSigningKey: a signed INDEX would change, but no signing key is set.
	ErrSigningKey = errors.New("storage: signing key required")
)

// Storage is an opened web storage. Its methods are safe for concurrent use;
// writers in other processes are excluded by the storage lock.
type Storage struct {
	base     string // absolute, clean
	realBase string // base with symlinks evaluated

	mu         sync.Mutex
	log        *slog.Logger
	key        ed25519.PrivateKey
	lockWait   time.Duration       // WithLockWait; 0: until the context ends
	lockNotice func(holder string) // WithLockWait

	stateDir string           // writer state outside the served tree ("" = none)
	lifetime time.Duration    // of a signed INDEX; 0 = index.DefaultLifetime
	clock    func() time.Time // nil = time.Now

	allowedRoots []string // the FECs' allowed roots, for the archive check
	checker      archiveChecker
}

// Option configures Init and Open.
type Option func(*Storage)

// WithLogger sets the logger (nil = silent, the default).
func WithLogger(l *slog.Logger) Option { return func(s *Storage) { s.SetLogger(l) } }

// WithSigningKey makes Reindex sign every INDEX (INDEX.sig).
func WithSigningKey(k ed25519.PrivateKey) Option { return func(s *Storage) { s.SetSigningKey(k) } }

// SetLogger sets the logger (nil = silent).
func (s *Storage) SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	s.mu.Lock()
	s.log = l
	s.mu.Unlock()
}

// SetSigningKey sets the key INDEX files are signed with from now on. With
// nil, a change to a FEC whose INDEX is signed fails with ErrSigningKey
// (nothing changes); Unsign stops signing deliberately.
func (s *Storage) SetSigningKey(k ed25519.PrivateKey) {
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
}

func (s *Storage) logger() *slog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log
}

func (s *Storage) signingKey() ed25519.PrivateKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// Base is the absolute path of the storage.
func (s *Storage) Base() string { return s.base }

// abs turns a base-relative slash path into an absolute OS path.
func (s *Storage) abs(rel string) string {
	if rel == "" {
		return s.base
	}
	return filepath.Join(s.base, filepath.FromSlash(rel))
}

// absFor is abs(pathFor(spec)).
func (s *Storage) absFor(spec pathSpec) (string, error) {
	p, err := pathFor(spec)
	if err != nil {
		return "", err
	}
	return s.abs(p), nil
}

func newStorage(dir string, opts []Option) (*Storage, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", dir, err)
	}
	s := &Storage{base: filepath.Clean(abs), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Init creates a storage in dir (created if missing): the marker file, the
// lock file, fecs/global/, software/ and configuration/. On a directory that
// already is a storage it is Open. A directory with other content is
// accepted (an existing tree can be adopted; Verify then reports what does
// not follow the layout).
func Init(dir string, opts ...Option) (*Storage, error) {
	s, err := newStorage(dir, opts)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(s.abs(MarkerName)); err == nil {
		return Open(dir, opts...)
	}
	global, _ := pathFor(globalPathSpec{})
	for _, p := range []string{global, SoftwareDir, ConfigDir} {
		if err := os.MkdirAll(s.abs(p), 0o755); err != nil {
			return nil, fmt.Errorf("storage: creating %s: %w", s.abs(p), err)
		}
	}
	// Created in place, never replaced: a writer may hold a flock on it.
	lf, err := os.OpenFile(s.abs(LockName), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: creating the lock file: %w", err)
	}
	if err := lf.Close(); err != nil {
		return nil, fmt.Errorf("storage: creating the lock file: %w", err)
	}
	// The marker goes last: a half-initialised directory is not a storage.
	if err := writeFileAtomic(s.base, MarkerName, 0o644, []byte(MarkerContent)); err != nil {
		return nil, fmt.Errorf("storage: creating the marker file: %w", err)
	}
	return Open(dir, opts...)
}

// Open opens an existing storage; ErrNotStorage when dir has no marker file
// (or one of an unknown layout version).
func Open(dir string, opts ...Option) (*Storage, error) {
	s, err := newStorage(dir, opts)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.abs(MarkerName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s has no %s marker file (create a storage with Init / fecctl init)", ErrNotStorage, s.base, MarkerName)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrNotStorage, s.base, err)
	}
	if string(b) != MarkerContent {
		return nil, fmt.Errorf("%w: %s: marker says %q, this version reads %q (upgrade fecdeploy)", ErrNotStorage, s.base,
			strings.TrimSpace(string(b)), strings.TrimSpace(MarkerContent))
	}
	real, err := filepath.EvalSymlinks(s.base)
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", s.base, err)
	}
	s.realBase = real
	return s, nil
}

// Lock takes the storage lock, waiting (polling, so ctx can cancel it) while
// another writer holds it, and returns the function that releases it.
//
// The lock is advisory: flock(2) on <base>/.lock. It excludes every writer
// that takes it, in this process or another, and is released when the
// holder exits or is killed. It needs the storage on a local filesystem of
// the writer host. The mutating methods of Storage take it themselves:
// calling one while holding Lock blocks until ctx ends. Use Lock to change
// the tree by other means (hand edits by a tool, fec-persist snapshots).
func (s *Storage) Lock(ctx context.Context) (unlock func() error, err error) {
	p := s.abs(LockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: opening the lock file: %w", err)
	}
	fd := int(f.Fd())
	wait := 2 * time.Millisecond
	waiter := s.newLockWaiter(p)
	for {
		if err := ctx.Err(); err != nil {
			f.Close()
			return nil, fmt.Errorf("storage: waiting for the storage lock %s (held by %s): %w", p, DescribeLockHolder(p), err)
		}
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("storage: locking %s: %w", p, err)
		}
		if err := waiter.check(); err != nil {
			f.Close()
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
	// Who holds it, for the message of a writer that waits (best effort).
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid=%d host=%s since=%s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))), 0)
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			err = syscall.Flock(fd, syscall.LOCK_UN)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		})
		return err
	}, nil
}

// locked runs fn with the storage lock held.
func (s *Storage) locked(ctx context.Context, fn func() error) (err error) {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); err == nil && uerr != nil {
			err = fmt.Errorf("storage: releasing the lock: %w", uerr)
		}
	}()
	return fn()
}
