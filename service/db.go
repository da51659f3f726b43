package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers "sqlite" (pure Go: static binary, go run works)
)

//go:embed migrations
var migrations embed.FS

// DB is the service's database of releases, audit records, status reports
// and tokens: SQLite (a file) by default, PostgreSQL with a DSN. The schema
// is the same; migrations (service/migrations/<dialect>) are applied at
// Open with goose.
type DB struct {
	sql      *sql.DB
	postgres bool
	// Created is true when Open found no schema and created it: the
	// history is gone (or never was) and the service rebuilds what it can
	// from the storage.
	Created bool
}

// OpenDB opens (and migrates) the database. dsn is a file path for SQLite,
// or a postgres:// URL (or "host=... dbname=..." key/value string prefixed
// with "postgres:") for PostgreSQL.
func OpenDB(ctx context.Context, dsn string) (*DB, error) {
	d := &DB{}
	var err error
	dialect := goose.DialectSQLite3
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		d.postgres, dialect = true, goose.DialectPostgres
		d.sql, err = sql.Open("pgx", dsn)
	case strings.HasPrefix(dsn, "postgres:"):
		d.postgres, dialect = true, goose.DialectPostgres
		d.sql, err = sql.Open("pgx", strings.TrimPrefix(dsn, "postgres:"))
	case dsn == "":
		return nil, fmt.Errorf("%w: no database: give a SQLite file or a postgres:// DSN", ErrBadRequest)
	default:
		// WAL: readers never wait for the writer; busy_timeout: writers
		// queue instead of failing with SQLITE_BUSY.
		d.sql, err = sql.Open("sqlite", "file:"+dsn+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)")
		if err == nil {
			d.sql.SetMaxOpenConns(4)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if d.postgres {
		d.sql.SetMaxOpenConns(16)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := d.sql.PingContext(pingCtx); err != nil {
		d.sql.Close()
		return nil, fmt.Errorf("opening database %s: %w", redactDSN(dsn), err)
	}
	sub, err := fs.Sub(migrations, "migrations/"+map[bool]string{false: "sqlite", true: "postgres"}[d.postgres])
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(dialect, d.sql, sub)
	if err != nil {
		d.sql.Close()
		return nil, fmt.Errorf("database migrations: %w", err)
	}
	before, err := p.GetDBVersion(ctx)
	if err != nil {
		d.sql.Close()
		return nil, fmt.Errorf("database version: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		d.sql.Close()
		return nil, fmt.Errorf("applying database migrations: %w", err)
	}
	d.Created = before == 0
	return d, nil
}

// redactDSN drops a password from a DSN for messages.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.Index(dsn[i+3:], "@"); j >= 0 {
			return dsn[:i+3] + "…@" + dsn[i+3+j+1:]
		}
	}
	return dsn
}

// Close closes the database.
func (d *DB) Close() error { return d.sql.Close() }

// q rewrites ? placeholders to $n for PostgreSQL.
func (d *DB) q(query string) string {
	if !d.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *DB) exec(ctx context.Context, query string, args ...any) error {
	_, err := d.sql.ExecContext(ctx, d.q(query), args...)
	return err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// SetMeta and Meta keep small facts (when the database was rebuilt).
func (d *DB) SetMeta(ctx context.Context, key, value string) error {
	if d.postgres {
		return d.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, key, value)
	}
	return d.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
}

// Meta returns a value set by SetMeta ("" when unset).
func (d *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := d.sql.QueryRowContext(ctx, d.q(`SELECT value FROM meta WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Token hashing: tokens are 32 random bytes; the database keeps only their
// sha256 (a leaked database gives no usable token).
const tokenPrefix = "fecd_"

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// CreateToken makes a new token for name (a person or a CI job) and returns
// it; only its hash is stored. A name is unique.
func (d *DB) CreateToken(ctx context.Context, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, " \t\n/") || len(name) > 64 {
		return "", fmt.Errorf("%w: token name %q: 1-64 characters, no blanks or '/'", ErrBadRequest, name)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := d.exec(ctx, `INSERT INTO tokens (name, hash, created_ms) VALUES (?, ?, ?)`, name, hashToken(tok), ms(time.Now())); err != nil {
		var n int
		if d.sql.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM tokens WHERE name = ?`), name).Scan(&n) == nil && n > 0 {
			return "", fmt.Errorf("%w: a token named %q exists (revoke it first)", ErrBadRequest, name)
		}
		return "", err
	}
	return tok, nil
}

// RevokeToken deletes the token of name.
func (d *DB) RevokeToken(ctx context.Context, name string) error {
	res, err := d.sql.ExecContext(ctx, d.q(`DELETE FROM tokens WHERE name = ?`), name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no token named %q", ErrNotFound, name)
	}
	return nil
}

// TokenInfo is a stored token (without the token).
type TokenInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Tokens lists the token names.
func (d *DB) Tokens(ctx context.Context) ([]TokenInfo, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT name, created_ms FROM tokens ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		var t TokenInfo
		var c int64
		if err := rows.Scan(&t.Name, &c); err != nil {
			return nil, err
		}
		t.Created = fromMS(c)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Authenticate returns the name of the token's owner, or "" when it is not
// a valid token.
func (d *DB) Authenticate(ctx context.Context, tok string) (string, error) {
	if !strings.HasPrefix(tok, tokenPrefix) {
		return "", nil
	}
	var name string
	err := d.sql.QueryRowContext(ctx, d.q(`SELECT name FROM tokens WHERE hash = ?`), hashToken(tok)).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}

// Audit is one record: a publish, link, switch, rollback, prune, restart,
// reboot, or the rebuild of the database.
type Audit struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	FEC      string    `json:"fec,omitempty"`
	Software string    `json:"software,omitempty"`
	Version  string    `json:"version,omitempty"`
	OK       bool      `json:"ok"`
	Detail   string    `json:"detail"`
}

// AddAudit stores a record (At zero: now).
func (d *DB) AddAudit(ctx context.Context, a Audit) error {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	return d.exec(ctx, `INSERT INTO audit (at_ms, actor, action, fec, software, version, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(a.At), a.Actor, a.Action, a.FEC, a.Software, a.Version, a.OK, a.Detail)
}

// AuditFilter selects records; empty fields match all.
type AuditFilter struct {
	FEC, Software string
	Limit         int
}

// Audits returns records, newest first.
func (d *DB) Audits(ctx context.Context, f AuditFilter) ([]Audit, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query := `SELECT id, at_ms, actor, action, fec, software, version, ok, detail FROM audit WHERE 1=1`
	var args []any
	if f.FEC != "" {
		query += ` AND fec = ?`
		args = append(args, f.FEC)
	}
	if f.Software != "" {
		query += ` AND software = ?`
		args = append(args, f.Software)
	}
	query += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(f.Limit)
	rows, err := d.sql.QueryContext(ctx, d.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Audit
	for rows.Next() {
		var a Audit
		var at int64
		if err := rows.Scan(&a.ID, &at, &a.Actor, &a.Action, &a.FEC, &a.Software, &a.Version, &a.OK, &a.Detail); err != nil {
			return nil, err
		}
		a.At = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Release is one published archive: who, what, when, to which FECs, result.
type Release struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Arch    string    `json:"arch"`
	SHA256  string    `json:"sha256"`
	Size    int64     `json:"size"`
	Path    string    `json:"path"`
	FECs    []string  `json:"fecs"`
	Result  string    `json:"result"`
}

// AddRelease stores a release record.
func (d *DB) AddRelease(ctx context.Context, r Release) error {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	return d.exec(ctx, `INSERT INTO releases (at_ms, actor, kind, name, version, arch, sha256, size, path, fecs, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(r.At), r.Actor, r.Kind, r.Name, r.Version, r.Arch, r.SHA256, r.Size, r.Path, strings.Join(r.FECs, ","), r.Result)
}

// Releases returns the releases of a software (all when name is ""),
// newest first.
func (d *DB) Releases(ctx context.Context, name string, limit int) ([]Release, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query := `SELECT id, at_ms, actor, kind, name, version, arch, sha256, size, path, fecs, result FROM releases`
	var args []any
	if name != "" {
		query += ` WHERE name = ?`
		args = append(args, name)
	}
	query += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(limit)
	rows, err := d.sql.QueryContext(ctx, d.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		var r Release
		var at int64
		var fecs string
		if err := rows.Scan(&r.ID, &at, &r.Actor, &r.Kind, &r.Name, &r.Version, &r.Arch, &r.SHA256, &r.Size, &r.Path, &fecs, &r.Result); err != nil {
			return nil, err
		}
		r.At = fromMS(at)
		if fecs != "" {
			r.FECs = strings.Split(fecs, ",")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// StoredReport is the last status report of a FEC.
type StoredReport struct {
	FEC         string    `json:"fec"`
	Received    time.Time `json:"received"`
	Remote      string    `json:"remote"`
	IndexSHA256 string    `json:"index_sha256"`
	ExitCode    int       `json:"exit_code"`
	Failed      int       `json:"failed"`
	Finished    time.Time `json:"finished"`
	Body        string    `json:"-"` // the status JSON as sent
}

// PutReport replaces the FEC's last report.
func (d *DB) PutReport(ctx context.Context, r StoredReport) error {
	up := `INSERT INTO reports (fec, received_ms, remote, index_sha256, exit_code, failed, finished_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (fec) DO UPDATE SET received_ms = excluded.received_ms, remote = excluded.remote, index_sha256 = excluded.index_sha256,
exit_code = excluded.exit_code, failed = excluded.failed, finished_ms = excluded.finished_ms, body = excluded.body`
	if d.postgres {
		up = strings.ReplaceAll(up, "excluded.", "EXCLUDED.")
	}
	return d.exec(ctx, up, r.FEC, ms(r.Received), r.Remote, r.IndexSHA256, r.ExitCode, r.Failed, ms(r.Finished), r.Body)
}

// Reports returns the last report of every FEC that reported.
func (d *DB) Reports(ctx context.Context) (map[string]StoredReport, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT fec, received_ms, remote, index_sha256, exit_code, failed, finished_ms, body FROM reports`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]StoredReport{}
	for rows.Next() {
		var r StoredReport
		var rec, fin int64
		if err := rows.Scan(&r.FEC, &rec, &r.Remote, &r.IndexSHA256, &r.ExitCode, &r.Failed, &fin, &r.Body); err != nil {
			return nil, err
		}
		r.Received, r.Finished = fromMS(rec), fromMS(fin)
		out[r.FEC] = r
	}
	return out, rows.Err()
}

// Report returns the FEC's last report (ok false when it never reported).
func (d *DB) Report(ctx context.Context, fec string) (StoredReport, bool, error) {
	var r StoredReport
	var rec, fin int64
	err := d.sql.QueryRowContext(ctx, d.q(`SELECT fec, received_ms, remote, index_sha256, exit_code, failed, finished_ms, body FROM reports WHERE fec = ?`), fec).
		Scan(&r.FEC, &rec, &r.Remote, &r.IndexSHA256, &r.ExitCode, &r.Failed, &fin, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	r.Received, r.Finished = fromMS(rec), fromMS(fin)
	return r, true, nil
}
