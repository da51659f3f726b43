-- +goose Up
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);
CREATE TABLE releases (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    path TEXT NOT NULL,
    fecs TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX releases_name ON releases (name, at_ms);
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    fec TEXT NOT NULL,
    software TEXT NOT NULL,
    version TEXT NOT NULL,
    ok BOOLEAN NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_fec ON audit (fec, at_ms);
CREATE INDEX audit_software ON audit (software, at_ms);
CREATE TABLE reports (
    fec TEXT PRIMARY KEY,
    received_ms BIGINT NOT NULL,
    remote TEXT NOT NULL,
    index_sha256 TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    finished_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);

-- +goose Down
DROP TABLE reports;
DROP TABLE audit;
DROP TABLE releases;
DROP TABLE tokens;
DROP TABLE meta;
