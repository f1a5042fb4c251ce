-- Versioned documents of a publisher (the platform when clinic_id is NULL, or
-- one clinic), the change notices sent about them, subscriptions to those
-- notices, and clinic admins' acknowledgements of platform versions.

CREATE TABLE documents (
    id          uuid PRIMARY KEY,
    clinic_id   uuid REFERENCES clinics (id),
    kind        text NOT NULL CHECK (kind IN ('privacy_notice', 'cookie_policy', 'data_processing_agreement')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (clinic_id, kind)
);

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

CREATE TABLE document_versions (
    id            uuid PRIMARY KEY,
    document_id   uuid NOT NULL REFERENCES documents (id),
    clinic_id     uuid REFERENCES clinics (id),
    -- Assigned when the version is published: 1, 2, 3...
    number        integer CHECK (number >= 1),
    state         text NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'scheduled', 'effective', 'superseded', 'cancelled')),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body_md       text NOT NULL CHECK (length(body_md) <= 200000),
    summary       text NOT NULL DEFAULT '' CHECK (length(summary) <= 2000),
    material      boolean NOT NULL DEFAULT false,
    effective_at  timestamptz,
    published_at  timestamptz,
    published_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    ended_at      timestamptz,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (document_id, number),
    CHECK ((state = 'draft') = (number IS NULL)),
    CHECK ((state = 'draft') = (published_at IS NULL)),
    CHECK ((state = 'draft') = (effective_at IS NULL)),
    CHECK (NOT material OR state = 'draft' OR length(summary) > 0)
);
-- One draft, one scheduled and one effective version per document at most.
CREATE UNIQUE INDEX document_versions_one_draft ON document_versions (document_id) WHERE state = 'draft';
CREATE UNIQUE INDEX document_versions_one_scheduled ON document_versions (document_id) WHERE state = 'scheduled';
CREATE UNIQUE INDEX document_versions_one_effective ON document_versions (document_id) WHERE state = 'effective';
CREATE INDEX document_versions_due_idx ON document_versions (effective_at) WHERE state = 'scheduled';
CREATE INDEX document_versions_clinic_id_idx ON document_versions (clinic_id);
CREATE TRIGGER document_versions_touch BEFORE UPDATE ON document_versions
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

-- A published version never changes: only its state moves on (scheduled to
-- effective or cancelled, effective to superseded), and only a draft may be
-- deleted, except by the retention purge and offboarding, which set
-- portal.purge for their transaction.
CREATE FUNCTION document_versions_immutable() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.state <> 'draft' AND coalesce(current_setting('portal.purge', true), '') <> 'on' THEN
            RAISE EXCEPTION 'published document versions cannot be deleted'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.state = 'draft' THEN
        RETURN NEW;
    END IF;
    IF NEW.document_id IS DISTINCT FROM OLD.document_id
        OR NEW.clinic_id IS DISTINCT FROM OLD.clinic_id
        OR NEW.number IS DISTINCT FROM OLD.number
        OR NEW.title IS DISTINCT FROM OLD.title
        OR NEW.body_md IS DISTINCT FROM OLD.body_md
        OR NEW.summary IS DISTINCT FROM OLD.summary
        OR NEW.material IS DISTINCT FROM OLD.material
        OR NEW.effective_at IS DISTINCT FROM OLD.effective_at
        OR NEW.published_at IS DISTINCT FROM OLD.published_at
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR NOT ((OLD.state = NEW.state)
            OR (OLD.state = 'scheduled' AND NEW.state IN ('effective', 'cancelled'))
            OR (OLD.state = 'effective' AND NEW.state = 'superseded'))
    THEN
        RAISE EXCEPTION 'published document versions are immutable (version %, %)', OLD.number, OLD.state
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER document_versions_immutable BEFORE UPDATE OR DELETE ON document_versions
    FOR EACH ROW EXECUTE FUNCTION document_versions_immutable();

ALTER TABLE document_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON document_versions
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- People who asked for change notices from a publisher (double opt-in).
CREATE TABLE subscribers (
    id                  uuid PRIMARY KEY,
    clinic_id           uuid REFERENCES clinics (id),
    email               text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    locale              text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'uk')),
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'unsubscribed')),
    confirm_token_hash  bytea UNIQUE CHECK (length(confirm_token_hash) = 32),
    confirm_expires_at  timestamptz,
    confirmed_at        timestamptz,
    unsubscribed_at     timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (clinic_id, email),
    CHECK (status <> 'confirmed' OR confirmed_at IS NOT NULL)
);
CREATE INDEX subscribers_clinic_status_idx ON subscribers (clinic_id, status);
CREATE TRIGGER subscribers_touch BEFORE UPDATE ON subscribers
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE subscribers ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscribers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subscribers
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- Addresses a publisher must not email again.
CREATE TABLE suppressions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id   uuid REFERENCES clinics (id),
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    reason      text NOT NULL CHECK (reason IN ('unsubscribed', 'bounced', 'added_by_staff')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (clinic_id, email)
);

ALTER TABLE suppressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE suppressions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON suppressions
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- Recipient lists a clinic imports (e.g. its patients who agreed to hear
-- about policy changes).
CREATE TABLE recipient_lists (
    id          uuid PRIMARY KEY,
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, name),
    UNIQUE (id, clinic_id)
);
CREATE TRIGGER recipient_lists_touch BEFORE UPDATE ON recipient_lists
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE recipient_lists ENABLE ROW LEVEL SECURITY;
ALTER TABLE recipient_lists FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recipient_lists
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

CREATE TABLE recipient_list_members (
    list_id     uuid NOT NULL,
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, email),
    FOREIGN KEY (list_id, clinic_id) REFERENCES recipient_lists (id, clinic_id) ON DELETE CASCADE
);
CREATE INDEX recipient_list_members_clinic_id_idx ON recipient_list_members (clinic_id);

ALTER TABLE recipient_list_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE recipient_list_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recipient_list_members
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- A change notice about one version, and its outbox: one row per recipient.
CREATE TABLE campaigns (
    id            uuid PRIMARY KEY,
    clinic_id     uuid REFERENCES clinics (id),
    version_id    uuid NOT NULL UNIQUE REFERENCES document_versions (id),
    status        text NOT NULL DEFAULT 'preparing' CHECK (status IN ('preparing', 'sending', 'finished', 'cancelled')),
    recipients    integer NOT NULL DEFAULT 0 CHECK (recipients >= 0),
    suppressed    integer NOT NULL DEFAULT 0 CHECK (suppressed >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_clinic_id_idx ON campaigns (clinic_id, created_at DESC);
CREATE TRIGGER campaigns_touch BEFORE UPDATE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE campaigns ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaigns FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaigns
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

CREATE TABLE campaign_recipients (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id      uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    clinic_id        uuid REFERENCES clinics (id),
    email            text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_error       text,
    sent_at          timestamptz,
    UNIQUE (campaign_id, email),
    CHECK ((status = 'sending') = (locked_until IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX campaign_recipients_due_idx ON campaign_recipients (campaign_id, next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX campaign_recipients_failed_idx ON campaign_recipients (campaign_id) WHERE status = 'failed';
CREATE INDEX campaign_recipients_clinic_id_idx ON campaign_recipients (clinic_id);

ALTER TABLE campaign_recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_recipients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaign_recipients
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));

-- Clinic admins' acknowledgements of platform versions.
CREATE TABLE acknowledgements (
    version_id       uuid NOT NULL REFERENCES document_versions (id),
    clinic_id        uuid NOT NULL REFERENCES clinics (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    acknowledged_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version_id, clinic_id, user_id)
);
CREATE INDEX acknowledgements_clinic_id_idx ON acknowledgements (clinic_id);
CREATE INDEX acknowledgements_user_id_idx ON acknowledgements (user_id);

ALTER TABLE acknowledgements ENABLE ROW LEVEL SECURITY;
ALTER TABLE acknowledgements FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON acknowledgements
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
