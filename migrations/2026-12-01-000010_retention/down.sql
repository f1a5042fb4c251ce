ALTER TABLE clinics DROP CONSTRAINT clinics_offboarding_dates;
ALTER TABLE clinics DROP COLUMN delete_after;
ALTER TABLE clinics DROP COLUMN offboarding_started_at;
DROP TABLE clinic_export_chunks;
DROP TABLE clinic_exports;
DROP TABLE audit_anchors;
DROP TABLE retention_runs;
DROP TABLE retention_rules;
