-- The sub-processor register of a publisher (the platform when clinic_id is
-- NULL, or a clinic's own processors), the changes announced to it, and
-- clinics' objections to the platform's changes (GDPR Art. 28(2)).

CREATE TABLE subprocessors (
    id               uuid PRIMARY KEY,
    clinic_id        uuid REFERENCES clinics (id),
    legal_name       text NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 200),
    service          text NOT NULL CHECK (length(service) BETWEEN 1 AND 500),
    purpose          text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 100),
    data_categories  text[] NOT NULL CHECK (
        cardinality(data_categories) >= 1
        AND data_categories <@ ARRAY['identity', 'contact', 'health', 'appointments',
                                     'messages', 'billing', 'technical_logs']),
    countries        text[] NOT NULL CHECK (cardinality(countries) BETWEEN 1 AND 30),
    safeguard        text NOT NULL CHECK (safeguard IN ('not_needed', 'adequacy', 'sccs', 'dpf', 'bcr')),
    website          text CHECK (length(website) <= 500),
    terms_url        text CHECK (length(terms_url) <= 500),
    status           text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'active', 'retired')),
    active_since     timestamptz,
    retired_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'proposed') = (active_since IS NULL)),
    CHECK ((status = 'retired') = (retired_at IS NOT NULL))
);
CREATE INDEX subprocessors_clinic_id_idx ON subprocessors (clinic_id, status);
CREATE TRIGGER subprocessors_touch BEFORE UPDATE ON subprocessors
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE subprocessors ENABLE ROW LEVEL SECURITY;
ALTER TABLE subprocessors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subprocessors
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- An announced change: a sub-processor added, one replacing another, or one
-- retired, effective no earlier than the end of the objection window.
CREATE TABLE subprocessor_changes (
    id                  uuid PRIMARY KEY,
    clinic_id           uuid REFERENCES clinics (id),
    kind                text NOT NULL CHECK (kind IN ('add', 'replace', 'retire')),
    subprocessor_id     uuid NOT NULL REFERENCES subprocessors (id),
    replaces_id         uuid REFERENCES subprocessors (id),
    summary             text NOT NULL CHECK (length(summary) BETWEEN 1 AND 2000),
    status              text NOT NULL DEFAULT 'announced' CHECK (status IN ('announced', 'effective', 'cancelled')),
    objection_deadline  timestamptz NOT NULL,
    effective_at        timestamptz NOT NULL,
    announced_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    announced_at        timestamptz NOT NULL DEFAULT now(),
    applied_at          timestamptz,
    cancelled_at        timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (effective_at >= objection_deadline),
    CHECK ((kind = 'replace') = (replaces_id IS NOT NULL)),
    CHECK (replaces_id IS DISTINCT FROM subprocessor_id),
    CHECK ((status = 'effective') = (applied_at IS NOT NULL)),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX subprocessor_changes_clinic_id_idx ON subprocessor_changes (clinic_id, announced_at DESC);
CREATE INDEX subprocessor_changes_due_idx ON subprocessor_changes (effective_at) WHERE status = 'announced';
CREATE INDEX subprocessor_changes_subprocessor_idx ON subprocessor_changes (subprocessor_id);
CREATE INDEX subprocessor_changes_replaces_idx ON subprocessor_changes (replaces_id);
CREATE TRIGGER subprocessor_changes_touch BEFORE UPDATE ON subprocessor_changes
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE subprocessor_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE subprocessor_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subprocessor_changes
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- A clinic's objection to a change of the platform's register; at most one
-- open objection per clinic and change.
CREATE TABLE subprocessor_objections (
    id            uuid PRIMARY KEY,
    change_id     uuid NOT NULL REFERENCES subprocessor_changes (id),
    clinic_id     uuid NOT NULL REFERENCES clinics (id),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 10 AND 4000),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'withdrawn')),
    raised_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    raised_at     timestamptz NOT NULL DEFAULT now(),
    resolution    text CHECK (length(resolution) BETWEEN 10 AND 4000),
    resolved_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    resolved_at   timestamptz,
    withdrawn_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL AND resolution IS NOT NULL)),
    CHECK ((status = 'withdrawn') = (withdrawn_at IS NOT NULL))
);
CREATE UNIQUE INDEX subprocessor_objections_one_open ON subprocessor_objections (change_id, clinic_id)
    WHERE status = 'open';
CREATE INDEX subprocessor_objections_clinic_id_idx ON subprocessor_objections (clinic_id);
CREATE INDEX subprocessor_objections_raised_by_idx ON subprocessor_objections (raised_by);
CREATE INDEX subprocessor_objections_resolved_by_idx ON subprocessor_objections (resolved_by);
CREATE TRIGGER subprocessor_objections_touch BEFORE UPDATE ON subprocessor_objections
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE subprocessor_objections ENABLE ROW LEVEL SECURITY;
ALTER TABLE subprocessor_objections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subprocessor_objections
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
