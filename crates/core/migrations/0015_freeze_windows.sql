-- Freeze windows: when an environment takes no new deployments.
-- `environments.freeze_windows` holds the list of windows as JSON (the
-- domain's FreezeWindowSpec: kind, mode, time_zone, from, to, reason);
-- '[]': never frozen.
ALTER TABLE environments ADD COLUMN freeze_windows TEXT NOT NULL DEFAULT '[]';
