-- Append-only, hash-chained audit log. One chain per clinic plus one for the
-- platform (clinic_id NULL). Each row stores the previous row's hash and its own:
--   hash = SHA-256(prev_hash || canonical encoding of the event)
-- so editing or deleting a row in the middle of a chain is detectable by
-- `privacy-portal audit verify`.
CREATE TABLE audit_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id     uuid REFERENCES clinics (id),
    seq           bigint NOT NULL CHECK (seq >= 1),
    occurred_at   timestamptz NOT NULL,
    actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'system', 'public', 'cli')),
    actor_id      uuid,
    actor_label   text NOT NULL,
    action        text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    subject_kind  text NOT NULL,
    subject_id    text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    request_id    text,
    prev_hash     bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash          bytea NOT NULL CHECK (length(hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_events_chain_seq UNIQUE NULLS NOT DISTINCT (clinic_id, seq)
);
CREATE INDEX audit_events_clinic_time_idx ON audit_events (clinic_id, occurred_at DESC);

-- Rows are never updated. Deleting is refused too, except by the retention
-- purge and clinic offboarding, which announce themselves for the transaction.
CREATE FUNCTION audit_events_guard() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('portal.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard();

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
