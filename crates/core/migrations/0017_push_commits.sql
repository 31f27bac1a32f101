-- The commits a push delivery lists (JSON, newest first: sha, author,
-- message; NULL for deliveries stored before): what a diff's commit range
-- shows, not only each push's head.
ALTER TABLE webhook_deliveries ADD COLUMN commits TEXT;
