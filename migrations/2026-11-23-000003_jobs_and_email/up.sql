-- The transactional outbox and job queue. A service writes its change and the
-- jobs it causes in one transaction; workers claim due jobs with
-- FOR UPDATE SKIP LOCKED and hold a lease while they run.
CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id        uuid REFERENCES clinics (id),
    kind             text NOT NULL CHECK (kind ~ '^[a-z_]+(\.[a-z_]+)*$'),
    payload          jsonb NOT NULL DEFAULT '{}',
    idempotency_key  text UNIQUE,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'done', 'failed')),
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL DEFAULT 8 CHECK (max_attempts >= 1),
    locked_by        text,
    locked_until     timestamptz,
    last_error       text,
    finished_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'running') = (locked_until IS NOT NULL))
);
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE status = 'pending';
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_clinic_id_idx ON jobs (clinic_id);
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE status IN ('done', 'failed');
CREATE TRIGGER jobs_touch BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- One row per email handed to the mail transport (or refused by it).
CREATE TABLE email_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id       uuid REFERENCES clinics (id),
    job_id          bigint REFERENCES jobs (id) ON DELETE SET NULL,
    message_id      text NOT NULL,
    template        text NOT NULL,
    recipient       text NOT NULL,
    status          text NOT NULL CHECK (status IN ('sent', 'failed')),
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_deliveries_clinic_id_idx ON email_deliveries (clinic_id, created_at DESC);
CREATE INDEX email_deliveries_job_id_idx ON email_deliveries (job_id);

ALTER TABLE email_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_deliveries
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
