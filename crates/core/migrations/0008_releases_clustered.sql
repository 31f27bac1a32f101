-- Release history pages read one environment's releases newest first, fifty
-- at a time. Stored by rowid, every row of a page was a seek of its own from
-- the (environment_id, id) index into the table. Clustered by
-- (environment_id, id), a page is one seek and a walk along neighbouring
-- rows (`switchyard-bench releases`). Ids stay global and unique, since
-- deployments refer to them; the writer assigns them one past the largest,
-- as the rowid did (store::releases::insert).
--
-- A table rebuild: store::open runs migrations with foreign keys off, as
-- SQLite requires for one, and checks every foreign key afterwards. The
-- triggers that write releases are dropped first, since a rename refuses a
-- schema whose triggers name a missing table.
DROP TRIGGER releases_outcome_on_deploy;
DROP TRIGGER releases_outcome_on_observe;

CREATE TABLE releases_clustered (
    id             INTEGER NOT NULL,
    environment_id INTEGER NOT NULL REFERENCES environments (id),
    version        TEXT    NOT NULL,
    image          TEXT    NOT NULL,
    git_commit     TEXT,
    author         TEXT    NOT NULL,
    message        TEXT    NOT NULL,
    recorded_by    TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    -- The outcome of the release's latest deployment (see 0007); NULL means
    -- never deployed.
    outcome        TEXT,
    PRIMARY KEY (environment_id, id)
) STRICT, WITHOUT ROWID;

INSERT INTO releases_clustered
    (id, environment_id, version, image, git_commit, author, message, recorded_by, created_at, outcome)
SELECT id, environment_id, version, image, git_commit, author, message, recorded_by, created_at, outcome
FROM releases;

DROP TABLE releases;
ALTER TABLE releases_clustered RENAME TO releases;

-- Deployments refer to a release by id alone.
CREATE UNIQUE INDEX releases_by_id ON releases (id);
CREATE UNIQUE INDEX releases_by_version ON releases (environment_id, version);
-- History filters walk (environment, key, id) backwards.
CREATE INDEX releases_by_outcome ON releases (environment_id, outcome, id);
CREATE INDEX releases_by_author ON releases (environment_id, author, id);
CREATE INDEX releases_by_time ON releases (environment_id, created_at);

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
