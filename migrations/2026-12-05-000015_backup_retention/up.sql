-- How long the platform keeps its encrypted backups: `backup prune` (and the
-- nightly backup) remove older ones. The policies this portal serves promise
-- that deleted data leaves the backups within 30 to 90 days.
ALTER TABLE platform ADD COLUMN backup_retention_days integer NOT NULL DEFAULT 30
    CHECK (backup_retention_days BETWEEN 1 AND 365);
