ALTER TABLE platform DROP COLUMN backup_retention_days;
