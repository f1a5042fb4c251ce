-- Meta callbacks a clinic has already answered: the SHA-256 of each signed
-- payload, kept for as long as such a payload is fresh enough to be accepted,
-- so that a replay gets the first answer again instead of opening a second
-- erasure request or writing a second audit event.
CREATE TABLE meta_callback_replays (
    clinic_id          uuid NOT NULL REFERENCES clinics (id),
    callback           text NOT NULL CHECK (callback IN ('data_deletion', 'deauthorize')),
    digest             bytea NOT NULL CHECK (length(digest) = 32),
    confirmation_code  text CHECK (confirmation_code ~ '^[A-Z0-9]{12}$'),
    seen_at            timestamptz NOT NULL,
    PRIMARY KEY (clinic_id, callback, digest),
    CHECK ((callback = 'data_deletion') = (confirmation_code IS NOT NULL))
);
-- Forgetting what is past the window reads one clinic's oldest rows.
CREATE INDEX meta_callback_replays_seen_idx ON meta_callback_replays (clinic_id, seen_at);

ALTER TABLE meta_callback_replays ENABLE ROW LEVEL SECURITY;
ALTER TABLE meta_callback_replays FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON meta_callback_replays
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
