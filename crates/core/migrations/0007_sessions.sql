-- Dashboard sign-in sessions. The cookie carries a random session id; only
-- its SHA-256 is stored, so a copy of the database cannot sign anyone in.
-- A session belongs to the API token it was opened with: revoking the token
-- ends its sessions too.
CREATE TABLE sessions (
    id_hash    BLOB    PRIMARY KEY,
    token_id   INTEGER NOT NULL REFERENCES api_tokens (id),
    -- Proves a form came from a page of this session (synchronizer token).
    csrf_token TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- The release history page filters by the outcome of each release's latest
-- deployment. Kept on the release by triggers, so the filter is an index
-- range (environment, outcome, id) instead of a join per row; NULL means
-- never deployed.
ALTER TABLE releases ADD COLUMN outcome TEXT;

UPDATE releases SET outcome = (
    SELECT CASE
        WHEN d.rolled_back = 1 THEN 'rolled_back'
        WHEN d.status = 'Succeeded' THEN 'succeeded'
        WHEN d.status = 'Failed' THEN 'failed'
        WHEN d.status = 'Stopped' THEN 'stopped'
        ELSE 'in_progress'
    END
    FROM deployments d WHERE d.release_id = releases.id ORDER BY d.id DESC LIMIT 1
);

CREATE TRIGGER releases_outcome_on_deploy AFTER INSERT ON deployments
BEGIN
    UPDATE releases SET outcome = 'in_progress' WHERE id = NEW.release_id;
END;

CREATE TRIGGER releases_outcome_on_observe AFTER UPDATE OF status, rolled_back ON deployments
WHEN NEW.id = (SELECT MAX(id) FROM deployments WHERE release_id = NEW.release_id)
BEGIN
    UPDATE releases SET outcome = CASE
        WHEN NEW.rolled_back = 1 THEN 'rolled_back'
        WHEN NEW.status = 'Succeeded' THEN 'succeeded'
        WHEN NEW.status = 'Failed' THEN 'failed'
        WHEN NEW.status = 'Stopped' THEN 'stopped'
        ELSE 'in_progress'
    END
    WHERE id = NEW.release_id;
END;

-- Release history filters walk (environment, key, id) backwards.
CREATE INDEX releases_by_outcome ON releases (environment_id, outcome, id);
CREATE INDEX releases_by_author ON releases (environment_id, author, id);
CREATE INDEX releases_by_time ON releases (environment_id, created_at);
-- Each release's deployments, newest first; DORA windows by completion.
CREATE INDEX deployments_by_release ON deployments (release_id, id);
CREATE INDEX deployments_by_completion ON deployments (environment_id, completed_at)
    WHERE completed_at IS NOT NULL;
