-- Where an environment's releases come from and who must approve them.
CREATE TABLE release_policies (
    environment_id      INTEGER PRIMARY KEY REFERENCES environments (id),
    source_repo         TEXT,
    source_branch       TEXT,
    -- Checking an HMAC needs the secret itself, not a hash of it. It is
    -- never shown again by the API and never logged.
    webhook_secret      TEXT,
    approvals_required  INTEGER NOT NULL DEFAULT 0 CHECK (approvals_required BETWEEN 0 AND 20),
    allow_self_approval INTEGER NOT NULL DEFAULT 0 CHECK (allow_self_approval IN (0, 1)),
    CHECK ((source_repo IS NULL) = (source_branch IS NULL))
) STRICT;
CREATE INDEX release_policies_by_repo ON release_policies (source_repo) WHERE source_repo IS NOT NULL;

-- Outgoing notifications of an environment. Replaced targets are only
-- marked, because queued notifications point at them.
CREATE TABLE notification_targets (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments (id),
    url            TEXT    NOT NULL,
    format         TEXT    NOT NULL CHECK (format IN ('generic', 'slack')),
    created_at     INTEGER NOT NULL,
    removed_at     INTEGER
) STRICT;
CREATE INDEX notification_targets_live ON notification_targets (environment_id) WHERE removed_at IS NULL;

-- The outbox: each notification is tried until it is delivered or gives up.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    target_id       INTEGER NOT NULL REFERENCES notification_targets (id),
    kind            TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    gave_up_at      INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Every webhook delivery whose signature checked out, once: a redelivery
-- with the same id finds its row and starts nothing.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY,
    provider     TEXT    NOT NULL,
    delivery_id  TEXT,
    event        TEXT    NOT NULL,
    repository   TEXT    NOT NULL,
    branch       TEXT,
    before_sha   TEXT,
    after_sha    TEXT,
    author       TEXT,
    message      TEXT,
    pusher       TEXT,
    compare      TEXT,
    commit_count INTEGER,
    received_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (provider, delivery_id)
    WHERE delivery_id IS NOT NULL;

-- Pipeline runs: what the tracker last observed of each CodePipeline
-- execution; every change is also an event.
CREATE TABLE pipeline_runs (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments (id),
    pipeline       TEXT    NOT NULL,
    execution_id   TEXT    NOT NULL UNIQUE,
    status         TEXT    NOT NULL CHECK (status IN ('Cancelled', 'InProgress', 'Stopped', 'Stopping',
                                                      'Succeeded', 'Superseded', 'Failed')),
    trigger        TEXT    NOT NULL CHECK (trigger IN ('push', 'manual')),
    delivery_id    INTEGER REFERENCES webhook_deliveries (id),
    commit_sha     TEXT,
    commit_message TEXT    NOT NULL DEFAULT '',
    -- Whose change this is: the pusher, or the user who started the run.
    author         TEXT    NOT NULL,
    started_by     TEXT    NOT NULL,
    -- JSON: the stages with their actions, as last observed.
    stages         TEXT    NOT NULL DEFAULT '[]',
    deployment_id  INTEGER REFERENCES deployments (id),
    error          TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    completed_at   INTEGER
) STRICT;
CREATE INDEX pipeline_runs_by_environment ON pipeline_runs (environment_id, id);
CREATE INDEX pipeline_runs_active ON pipeline_runs (id) WHERE status IN ('InProgress', 'Stopping');
CREATE INDEX events_by_pipeline_run ON events (json_extract(detail, '$.pipeline_run_id'), id)
    WHERE json_extract(detail, '$.pipeline_run_id') IS NOT NULL;

-- Release approvals: one per pending manual approval action of a run, or
-- per deployment held in Ready.
CREATE TABLE approvals (
    id                  INTEGER PRIMARY KEY,
    environment_id      INTEGER NOT NULL REFERENCES environments (id),
    pipeline_run_id     INTEGER REFERENCES pipeline_runs (id),
    deployment_id       INTEGER REFERENCES deployments (id),
    stage_name          TEXT,
    action_name         TEXT,
    token               TEXT,
    author              TEXT    NOT NULL,
    required            INTEGER NOT NULL,
    allow_self_approval INTEGER NOT NULL CHECK (allow_self_approval IN (0, 1)),
    -- closed: the cloud moved on without this decision (timeout, stop, supersede).
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'closed')),
    created_at          INTEGER NOT NULL,
    decided_at          INTEGER,
    -- When the cloud accepted the decision; until then the tracker retries.
    applied_at          INTEGER,
    apply_error         TEXT,
    CHECK ((pipeline_run_id IS NULL) <> (deployment_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX approvals_per_approval_action ON approvals (pipeline_run_id, token)
    WHERE pipeline_run_id IS NOT NULL;
CREATE UNIQUE INDEX approvals_per_deployment ON approvals (deployment_id) WHERE deployment_id IS NOT NULL;
CREATE INDEX approvals_by_state ON approvals (state, id);

CREATE TABLE approval_votes (
    approval_id INTEGER NOT NULL REFERENCES approvals (id),
    voter       TEXT    NOT NULL,
    decision    TEXT    NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment     TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (approval_id, voter)
) STRICT;

CREATE TRIGGER approval_votes_are_never_updated BEFORE UPDATE ON approval_votes
BEGIN
    SELECT RAISE(ABORT, 'votes are final');
END;
CREATE TRIGGER approval_votes_are_never_deleted BEFORE DELETE ON approval_votes
BEGIN
    SELECT RAISE(ABORT, 'votes are final');
END;
