package testenv

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// pgBinDirs are where Debian's postgresql package puts initdb and pg_ctl.
var pgBinDirs = []string{"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"}

// pgServer is the one PostgreSQL server of a test package.
type pgServer struct {
	dir, pgctl, runAs string
	port              int
	err               error
}

var (
	pgOnce sync.Once
	pg     *pgServer
	pgSeq  atomic.Int64
)

// asUser runs a command, as user runAs when it is not "".
func asUser(runAs string, name string, args ...string) *exec.Cmd {
	if runAs == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", runAs, "--", name}, args...)...)
}

func startPostgres(initdb, pgctl string) *pgServer {
	s := &pgServer{pgctl: pgctl}
	dir, err := os.MkdirTemp("", "fecdeploy-pg-")
	if err != nil {
		s.err = err
		return s
	}
	s.dir = dir
	// The server refuses to run as root: run it as the postgres user the
	// package creates, in a directory it owns.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			s.err = fmt.Errorf("running as root and no postgres user: %w", err)
			return s
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			s.err = err
			return s
		}
		s.runAs = "postgres"
	}
	data := filepath.Join(dir, "data")
	if out, err := asUser(s.runAs, initdb, "-D", data, "-A", "trust", "-U", "test", "--no-sync").CombinedOutput(); err != nil {
		s.err = fmt.Errorf("initdb: %v: %s", err, out)
		return s
	}
	l, err := freeListener()
	if err != nil {
		s.err = err
		return s
	}
	s.port = l
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c max_connections=200", s.port, dir)
	if out, err := asUser(s.runAs, pgctl, "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		s.err = fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
		return s
	}
	return s
}

// PostgresDSN starts the test package's PostgreSQL server on first use
// (Debian's postgresql: initdb in a temp dir, run as the postgres user when
// the tests run as root, pg_ctl on a free 127.0.0.1 port) and returns the
// DSN of a fresh database for this test, dropped when it ends. Missing
// binaries skip the test (fail it under CI=true). Call StopPostgres from
// TestMain after m.Run.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	var initdb, pgctl string
	for _, d := range pgBinDirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			initdb, pgctl = filepath.Join(d, "initdb"), filepath.Join(d, "pg_ctl")
			break
		}
	}
	if initdb == "" {
		RequireTool(t, "initdb (postgresql)", "/usr/lib/postgresql/15/bin/initdb")
		return ""
	}
	pgOnce.Do(func() { pg = startPostgres(initdb, pgctl) })
	if pg.err != nil {
		t.Fatalf("starting PostgreSQL: %v", pg.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgSeq.Add(1))
	admin := fmt.Sprintf("postgres://test@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return fmt.Sprintf("postgres://test@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// StopPostgres stops the package's server (if one was started) and removes
// its directory.
func StopPostgres() {
	if pg == nil || pg.dir == "" {
		return
	}
	if pg.port != 0 {
		_ = asUser(pg.runAs, pg.pgctl, "-D", filepath.Join(pg.dir, "data"), "-m", "fast", "-w", "-t", "30", "stop").Run()
	}
	_ = os.RemoveAll(pg.dir)
}

func freeListener() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
