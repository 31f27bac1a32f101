-- Approvals from Slack.
-- Which switchyard user a Slack account votes as: set by an admin, never
-- guessed from names or e-mail addresses. One Slack account per user.
CREATE TABLE chat_identities (
    slack_team_id TEXT NOT NULL,
    slack_user_id TEXT NOT NULL,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (slack_team_id, slack_user_id)
);

-- The signatures of interactions already taken, so a captured request is
-- not taken twice. Kept 10 minutes: twice the 5 minutes a timestamp may
-- be away from now, after which the signature is refused as stale anyway.
CREATE TABLE slack_deliveries (
    signature_digest TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
);
CREATE INDEX slack_deliveries_received_at ON slack_deliveries (received_at);
