-- Retention: per-clinic rules for each category of portal data, the runs of
-- the purge, the point where a purged audit chain now starts, clinic exports
-- and the offboarding schedule.

-- A clinic's rule for one category; categories without a row use the
-- defaults built into the portal.
CREATE TABLE retention_rules (
    clinic_id    uuid NOT NULL REFERENCES clinics (id),
    category     text NOT NULL CHECK (category IN (
                     'closed_requests', 'unverified_requests', 'consent_records',
                     'email_log', 'sessions', 'unsubscribed_subscribers', 'audit_log')),
    period_days  integer NOT NULL CHECK (period_days BETWEEN 1 AND 36500),
    action       text NOT NULL CHECK (action IN ('delete', 'anonymize')),
    updated_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (clinic_id, category)
);
CREATE TRIGGER retention_rules_touch BEFORE UPDATE ON retention_rules
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

-- One purge of one clinic: what it removed or anonymized per category.
CREATE TABLE retention_runs (
    id           uuid PRIMARY KEY,
    clinic_id    uuid NOT NULL REFERENCES clinics (id),
    dry_run      boolean NOT NULL,
    trigger      text NOT NULL CHECK (trigger IN ('schedule', 'cli', 'admin')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    counts       jsonb NOT NULL DEFAULT '{}',
    error        text
);
CREATE INDEX retention_runs_clinic_idx ON retention_runs (clinic_id, started_at DESC);

-- Where a chain starts after its oldest events were purged: the sequence
-- number and hash of the last removed event, so the rest still verifies.
CREATE TABLE audit_anchors (
    clinic_id    uuid NOT NULL PRIMARY KEY REFERENCES clinics (id),
    seq          bigint NOT NULL CHECK (seq >= 1),
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A ZIP of everything the clinic holds, built by a job; the file is kept
-- encrypted in chunks so any app node can serve it.
CREATE TABLE clinic_exports (
    id            uuid PRIMARY KEY,
    clinic_id     uuid NOT NULL REFERENCES clinics (id),
    requested_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    reason        text NOT NULL CHECK (reason IN ('requested', 'offboarding')),
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'ready', 'failed')),
    progress      integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    stage         text NOT NULL DEFAULT '',
    size_bytes    bigint,
    sha256        bytea,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX clinic_exports_clinic_idx ON clinic_exports (clinic_id, created_at DESC);

CREATE TABLE clinic_export_chunks (
    export_id   uuid NOT NULL REFERENCES clinic_exports (id) ON DELETE CASCADE,
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    n           integer NOT NULL CHECK (n >= 0),
    sealed      bytea NOT NULL,
    PRIMARY KEY (export_id, n)
);

-- Offboarding: when the operator started it, and when the clinic's data is
-- deleted (the end of the export window).
ALTER TABLE clinics ADD COLUMN offboarding_started_at timestamptz;
ALTER TABLE clinics ADD COLUMN delete_after timestamptz;
ALTER TABLE clinics ADD CONSTRAINT clinics_offboarding_dates
    CHECK ((status = 'offboarding') = (delete_after IS NOT NULL));

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['retention_rules', 'retention_runs', 'audit_anchors',
                             'clinic_exports', 'clinic_export_chunks'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (portal_scope_allows(clinic_id)) '
                       'WITH CHECK (portal_scope_allows(clinic_id))', t);
    END LOOP;
END
$$;
