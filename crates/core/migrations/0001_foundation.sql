-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver', 'admin')),
    created_at INTEGER NOT NULL
) STRICT;

-- Only a SHA-256 of each token is kept: the token itself is shown once.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    token_hash BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

-- Deleting an environment only marks it: its releases and audit trail stay,
-- and the name becomes free again.
CREATE TABLE environments (
    id                     INTEGER PRIMARY KEY,
    name                   TEXT    NOT NULL,
    platform               TEXT    NOT NULL CHECK (platform IN ('local', 'aws')),
    region                 TEXT,
    cluster                TEXT,
    service                TEXT,
    codedeploy_application TEXT,
    deployment_group       TEXT,
    pipeline               TEXT,
    prod_listener_arn      TEXT,
    test_listener_arn      TEXT,
    created_by             TEXT    NOT NULL,
    created_at             INTEGER NOT NULL,
    deleted_at             INTEGER
) STRICT;
CREATE UNIQUE INDEX environments_live_name ON environments (name) WHERE deleted_at IS NULL;

CREATE TABLE releases (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments (id),
    version        TEXT    NOT NULL,
    image          TEXT    NOT NULL,
    git_commit     TEXT,
    author         TEXT    NOT NULL,
    message        TEXT    NOT NULL,
    recorded_by    TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (environment_id, version)
) STRICT;
-- Keyset pages walk (environment_id, id) backwards.
CREATE INDEX releases_by_environment ON releases (environment_id, id);

-- The current state of each deployment; how it got there is in events.
CREATE TABLE deployments (
    id                INTEGER PRIMARY KEY,
    environment_id    INTEGER NOT NULL REFERENCES environments (id),
    release_id        INTEGER NOT NULL REFERENCES releases (id),
    codedeploy_id     TEXT UNIQUE,
    deployment_config TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('Created', 'Queued', 'InProgress', 'Ready',
                                                         'Baking', 'Succeeded', 'Failed', 'Stopped')),
    rolled_back       INTEGER NOT NULL DEFAULT 0 CHECK (rolled_back IN (0, 1)),
    created_by        TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER
) STRICT;
CREATE INDEX deployments_by_environment ON deployments (environment_id, id);
CREATE INDEX deployments_active ON deployments (environment_id)
    WHERE status IN ('Created', 'Queued', 'InProgress', 'Ready', 'Baking');

-- The audit trail: who did what, when. Append-only, enforced below.
CREATE TABLE events (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER REFERENCES environments (id),
    deployment_id  INTEGER REFERENCES deployments (id),
    actor          TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    detail         TEXT    NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX events_by_environment ON events (environment_id, id);

CREATE TRIGGER events_are_never_updated BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
