-- Events waiting to join their audit chain. A change and its event commit
-- together; the event lands here, without a sequence number or hash, so that
-- concurrent changes of one clinic do not queue behind each other's commit.
-- Right after the commit the portal moves queued events into audit_events,
-- chaining every event waiting for a chain in one transaction under that
-- chain's lock (see app/src/backend/audit.rs). The worker sweeps what a
-- crashed process left queued, and `audit verify` seals before it checks.
CREATE TABLE audit_queue (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id     uuid REFERENCES clinics (id),
    occurred_at   timestamptz NOT NULL,
    actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'system', 'public', 'cli')),
    actor_id      uuid,
    actor_label   text NOT NULL,
    action        text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    subject_kind  text NOT NULL,
    subject_id    text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    request_id    text
);
CREATE INDEX audit_queue_chain_idx ON audit_queue (clinic_id, id);

-- Queued events are only ever inserted, then moved by the sealer.
CREATE FUNCTION audit_queue_guard() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit_queue rows are sealed, never edited (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_queue_no_update
    BEFORE UPDATE ON audit_queue
    FOR EACH ROW EXECUTE FUNCTION audit_queue_guard();

ALTER TABLE audit_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_queue
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- Rate-limit counters need no crash safety: losing them resets the windows.
-- Unlogged, their updates write no WAL, so a hot counter (one address
-- posting many forms) does not wait for a WAL flush on every hit.
ALTER TABLE rate_limit_counters SET UNLOGGED;
