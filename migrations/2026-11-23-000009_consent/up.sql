-- Consent: what a clinic asks consent for (purposes), the cookies that serve
-- each purpose, the configuration versions visitors choose against, the
-- clinic's receipt-signing key, and the append-only consent records.

CREATE TABLE consent_purposes (
    id                  uuid PRIMARY KEY,
    clinic_id           uuid NOT NULL REFERENCES clinics (id),
    key                 text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{1,39}$'),
    channel             text NOT NULL CHECK (channel IN ('website', 'patient')),
    name_en             text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    name_uk             text NOT NULL CHECK (length(name_uk) <= 100),
    description_en      text NOT NULL CHECK (length(description_en) BETWEEN 1 AND 1000),
    description_uk      text NOT NULL CHECK (length(description_uk) <= 1000),
    legal_basis         text NOT NULL CHECK (legal_basis IN ('consent', 'contract', 'legal_obligation',
                                                             'vital_interests', 'legitimate_interests')),
    strictly_necessary  boolean NOT NULL DEFAULT false,
    position            integer NOT NULL DEFAULT 0,
    archived_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, key),
    CHECK (NOT (strictly_necessary AND legal_basis = 'consent'))
);
CREATE TRIGGER consent_purposes_touch BEFORE UPDATE ON consent_purposes
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();
ALTER TABLE consent_purposes ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_purposes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consent_purposes
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

CREATE TABLE consent_cookies (
    id          uuid PRIMARY KEY,
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    purpose_id  uuid NOT NULL REFERENCES consent_purposes (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    domain      text NOT NULL CHECK (length(domain) BETWEEN 1 AND 253),
    provider    text NOT NULL CHECK (length(provider) BETWEEN 1 AND 200),
    duration    text NOT NULL CHECK (length(duration) BETWEEN 1 AND 100),
    party       text NOT NULL CHECK (party IN ('first', 'third')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, name, domain)
);
CREATE INDEX consent_cookies_purpose_idx ON consent_cookies (purpose_id);
CREATE TRIGGER consent_cookies_touch BEFORE UPDATE ON consent_cookies
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();
ALTER TABLE consent_cookies ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_cookies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consent_cookies
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- A snapshot of a clinic's purposes: every change to them makes a new
-- version, and choices made against an older one are asked again.
CREATE TABLE consent_configs (
    id            uuid PRIMARY KEY,
    clinic_id     uuid NOT NULL REFERENCES clinics (id),
    version       integer NOT NULL CHECK (version >= 1),
    content_hash  text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    purposes      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, version)
);
ALTER TABLE consent_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_configs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consent_configs
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- The Ed25519 key that signs the clinic's consent receipts; the private half
-- is sealed under the master key.
CREATE TABLE consent_keys (
    clinic_id      uuid PRIMARY KEY REFERENCES clinics (id),
    key_id         text NOT NULL,
    public_key     bytea NOT NULL CHECK (length(public_key) = 32),
    secret_sealed  bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE consent_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consent_keys
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- One choice by one pseudonymous subject, with its signed receipt (a JWS).
CREATE TABLE consent_records (
    id           uuid PRIMARY KEY,
    clinic_id    uuid NOT NULL REFERENCES clinics (id),
    subject_id   text NOT NULL CHECK (length(subject_id) BETWEEN 8 AND 100),
    config_id    uuid NOT NULL REFERENCES consent_configs (id),
    choices      jsonb NOT NULL,
    source       text NOT NULL CHECK (source IN ('banner', 'settings_page', 'api', 'admin_import', 'patient')),
    gpc          boolean NOT NULL DEFAULT false,
    recorded_at  timestamptz NOT NULL,
    receipt      text NOT NULL
);
CREATE INDEX consent_records_clinic_time_idx ON consent_records (clinic_id, recorded_at DESC, id DESC);
CREATE INDEX consent_records_subject_idx ON consent_records (clinic_id, subject_id, recorded_at DESC);

-- Records are evidence: nothing changes or removes them, except the
-- retention purge and offboarding, which set portal.purge for their
-- transaction.
CREATE FUNCTION consent_records_append_only() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF coalesce(current_setting('portal.purge', true), '') <> 'on' THEN
        RAISE EXCEPTION 'consent records are append-only'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER consent_records_append_only BEFORE UPDATE OR DELETE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consent_records_append_only();
CREATE TRIGGER consent_records_no_truncate BEFORE TRUNCATE ON consent_records
    FOR EACH STATEMENT EXECUTE FUNCTION consent_records_append_only();

ALTER TABLE consent_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consent_records
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
