ALTER TABLE clinics DROP COLUMN meta_app_secret_sealed;
DROP TABLE download_grants;
DROP TABLE meta_deletions;
DROP TABLE request_files;
DROP TABLE request_events;
DROP TABLE privacy_requests;
