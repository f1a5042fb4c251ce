-- Sign-in: sessions, one-time email links, SSO connections, invitations and
-- rate-limit counters.

-- tower-sessions records. user_id mirrors the signed-in user kept in `data`,
-- so that all of a user's sessions can be ended at once.
CREATE TABLE sessions (
    id          text PRIMARY KEY,
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    data        jsonb NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE TRIGGER sessions_touch BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

-- One-time sign-in links. Only the SHA-256 of the token is stored.
CREATE TABLE login_tokens (
    id          uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_tokens_user_id_idx ON login_tokens (user_id);
CREATE INDEX login_tokens_expires_at_idx ON login_tokens (expires_at);

-- OpenID Connect connections: one per clinic, and one for the platform's
-- operators (clinic_id NULL). The client secret is sealed under the master key.
CREATE TABLE sso_connections (
    id                    uuid PRIMARY KEY,
    clinic_id             uuid REFERENCES clinics (id),
    display_name          text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    issuer_url            text NOT NULL CHECK (issuer_url ~ '^https?://'),
    client_id             text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 300),
    client_secret_sealed  bytea NOT NULL,
    membership_mode       text NOT NULL CHECK (membership_mode IN ('invitation', 'just_in_time')),
    default_role          text NOT NULL DEFAULT 'viewer'
                          CHECK (default_role IN ('admin', 'privacy_officer', 'viewer')),
    enabled               boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sso_connections_one_per_owner UNIQUE NULLS NOT DISTINCT (clinic_id)
);
CREATE TRIGGER sso_connections_touch BEFORE UPDATE ON sso_connections
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

-- Email domains routed to a connection at sign-in; a domain belongs to at
-- most one connection.
CREATE TABLE sso_domains (
    domain         text PRIMARY KEY CHECK (domain = lower(domain) AND domain ~ '^[a-z0-9.-]+\.[a-z]{2,}$'),
    connection_id  uuid NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    clinic_id      uuid REFERENCES clinics (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sso_domains_connection_id_idx ON sso_domains (connection_id);
CREATE INDEX sso_domains_clinic_id_idx ON sso_domains (clinic_id);

CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    clinic_id    uuid NOT NULL REFERENCES clinics (id),
    email        text NOT NULL CHECK (email = lower(email)),
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'privacy_officer', 'viewer')),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    invited_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX invitations_open_per_email ON invitations (clinic_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by);
CREATE TRIGGER invitations_touch BEFORE UPDATE ON invitations
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE sso_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_connections
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
ALTER TABLE sso_domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_domains FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_domains
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- Fixed-window counters shared by every app node. Keys never contain
-- personal data in clear (emails are hashed).
CREATE TABLE rate_limit_counters (
    key           text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_counters_window_idx ON rate_limit_counters (window_start);
