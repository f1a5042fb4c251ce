-- Patients' privacy requests (data-subject rights), their timeline, the files
-- sent in reply, and the links that let the requester download them.

CREATE TABLE privacy_requests (
    id                       uuid PRIMARY KEY,
    clinic_id                uuid NOT NULL REFERENCES clinics (id),
    -- Assigned when the requester's email is verified, e.g. PR-7K3D-9QX2.
    reference                text UNIQUE CHECK (reference ~ '^PR-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}$'),
    kind                     text NOT NULL CHECK (kind IN ('access', 'rectification', 'erasure', 'restriction',
                                 'objection', 'portability', 'withdraw_consent', 'other')),
    status                   text NOT NULL DEFAULT 'unverified' CHECK (status IN ('unverified', 'new',
                                 'in_progress', 'awaiting_requester', 'completed', 'withdrawn')),
    outcome                  text CHECK (outcome IN ('fulfilled', 'partially_fulfilled', 'refused')),
    outcome_reason           text,
    source                   text NOT NULL CHECK (source IN ('web_form', 'meta', 'staff')),
    locale                   text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'uk')),
    requester_name           text NOT NULL CHECK (length(requester_name) BETWEEN 1 AND 200),
    -- Absent only for requests that came through Meta's callback.
    requester_email          text,
    requester_phone          text,
    acting_as                text NOT NULL DEFAULT 'self' CHECK (acting_as IN ('self', 'child', 'representative')),
    subject_name             text,
    date_of_birth            date,
    patient_number           text,
    details                  text NOT NULL DEFAULT '' CHECK (length(details) <= 5000),
    verification_token_hash  bytea UNIQUE CHECK (length(verification_token_hash) = 32),
    verification_expires_at  timestamptz,
    -- The token of the requester's private status link, sealed under the
    -- master key so that later emails can carry the link again.
    access_token_sealed      bytea,
    verified_at              timestamptz,
    -- The legal clock: due_on moves with pauses and the one extension.
    base_due_on              date,
    due_on                   date,
    paused_since             date,
    paused_days              integer NOT NULL DEFAULT 0 CHECK (paused_days >= 0),
    extension_months         integer CHECK (extension_months BETWEEN 1 AND 2),
    extension_reason         text,
    assignee_id              uuid REFERENCES users (id) ON DELETE SET NULL,
    completed_at             timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'unverified') = (verified_at IS NULL)),
    CHECK ((status = 'completed') = (outcome IS NOT NULL)),
    CHECK (outcome <> 'refused' OR outcome_reason IS NOT NULL),
    CHECK ((extension_months IS NULL) = (extension_reason IS NULL)),
    CHECK (acting_as = 'self' OR subject_name IS NOT NULL),
    CHECK (source = 'meta' OR requester_email IS NOT NULL),
    -- Rows that hang off a request must belong to the request's clinic.
    UNIQUE (id, clinic_id)
);
CREATE INDEX privacy_requests_clinic_status_idx ON privacy_requests (clinic_id, status, due_on);
CREATE INDEX privacy_requests_clinic_email_idx ON privacy_requests (clinic_id, lower(requester_email));
CREATE INDEX privacy_requests_assignee_id_idx ON privacy_requests (assignee_id);
CREATE INDEX privacy_requests_unverified_idx ON privacy_requests (created_at) WHERE status = 'unverified';
CREATE TRIGGER privacy_requests_touch BEFORE UPDATE ON privacy_requests
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

-- The timeline: what happened, and what the requester may see of it.
CREATE TABLE request_events (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id             uuid NOT NULL REFERENCES clinics (id),
    request_id            uuid NOT NULL,
    kind                  text NOT NULL CHECK (kind ~ '^[a-z_]+$'),
    author_kind           text NOT NULL CHECK (author_kind IN ('requester', 'staff', 'system')),
    author_id             uuid REFERENCES users (id) ON DELETE SET NULL,
    body                  text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
    visible_to_requester  boolean NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (request_id, clinic_id) REFERENCES privacy_requests (id, clinic_id) ON DELETE CASCADE
);
CREATE INDEX request_events_request_id_idx ON request_events (request_id, id);
CREATE INDEX request_events_clinic_id_idx ON request_events (clinic_id);
CREATE INDEX request_events_author_id_idx ON request_events (author_id);

-- Files sent to the requester, sealed under the master key.
CREATE TABLE request_files (
    id            uuid PRIMARY KEY,
    clinic_id     uuid NOT NULL REFERENCES clinics (id),
    request_id    uuid NOT NULL,
    filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes BETWEEN 1 AND 26214400),
    sha256        bytea NOT NULL CHECK (length(sha256) = 32),
    sealed        bytea NOT NULL,
    uploaded_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (request_id, clinic_id) REFERENCES privacy_requests (id, clinic_id) ON DELETE CASCADE
);
CREATE INDEX request_files_request_id_idx ON request_files (request_id);
CREATE INDEX request_files_clinic_id_idx ON request_files (clinic_id);
CREATE INDEX request_files_uploaded_by_idx ON request_files (uploaded_by);

-- Erasure requests that arrived through Meta's data-deletion callback.
CREATE TABLE meta_deletions (
    confirmation_code  text PRIMARY KEY CHECK (confirmation_code ~ '^[A-Z0-9]{12}$'),
    clinic_id          uuid NOT NULL REFERENCES clinics (id),
    request_id         uuid NOT NULL UNIQUE,
    meta_user_id       text NOT NULL CHECK (length(meta_user_id) BETWEEN 1 AND 100),
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (request_id, clinic_id) REFERENCES privacy_requests (id, clinic_id) ON DELETE CASCADE
);
CREATE INDEX meta_deletions_clinic_id_idx ON meta_deletions (clinic_id);

-- Download links emailed after the requester confirms their address again.
CREATE TABLE download_grants (
    id          uuid PRIMARY KEY,
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    request_id  uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (request_id, clinic_id) REFERENCES privacy_requests (id, clinic_id) ON DELETE CASCADE
);
CREATE INDEX download_grants_request_id_idx ON download_grants (request_id);
CREATE INDEX download_grants_clinic_id_idx ON download_grants (clinic_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['privacy_requests', 'request_events', 'request_files', 'download_grants', 'meta_deletions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (portal_scope_allows(clinic_id)) '
                       'WITH CHECK (portal_scope_allows(clinic_id))', t);
    END LOOP;
END
$$;

-- The clinic's Meta app secret for the data-deletion callback, sealed.
ALTER TABLE clinics ADD COLUMN meta_app_secret_sealed bytea;
