DROP TABLE rate_limit_counters;
DROP TABLE invitations;
DROP TABLE sso_domains;
DROP TABLE sso_connections;
DROP TABLE login_tokens;
DROP TABLE sessions;
