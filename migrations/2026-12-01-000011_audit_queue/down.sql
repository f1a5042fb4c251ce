ALTER TABLE rate_limit_counters SET LOGGED;
DROP TABLE audit_queue;
DROP FUNCTION audit_queue_guard();
