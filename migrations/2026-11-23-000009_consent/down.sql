DROP TABLE consent_records;
DROP FUNCTION consent_records_append_only();
DROP TABLE consent_keys;
DROP TABLE consent_configs;
DROP TABLE consent_cookies;
DROP TABLE consent_purposes;
