-- Tenancy: the platform, its clinics (tenants), users and their memberships.
--
-- Row-level security is the second wall behind the application's own scoping:
-- every table that carries clinic_id is filtered by portal_scope_allows(), which
-- reads two per-transaction settings written with set_config(..., true):
--   portal.scope      'clinic' | 'system' (anything else: no tenant rows at all)
--   portal.clinic_id  the clinic in scope when portal.scope = 'clinic'
-- The application connects as a role that owns the tables; FORCE ROW LEVEL
-- SECURITY makes the policies apply to that owner too.

CREATE FUNCTION portal_scope_allows(row_clinic uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE current_setting('portal.scope', true)
        WHEN 'system' THEN true
        WHEN 'clinic' THEN row_clinic IS NOT NULL
            AND row_clinic = nullif(current_setting('portal.clinic_id', true), '')::uuid
        ELSE false
    END
$$;

CREATE FUNCTION portal_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- The platform (the processor running the portal) is a single row.
CREATE TABLE platform (
    id                    boolean PRIMARY KEY DEFAULT true CHECK (id),
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    legal_name            text NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 200),
    contact_email         text NOT NULL,
    notice_period_days    integer NOT NULL DEFAULT 30 CHECK (notice_period_days BETWEEN 0 AND 365),
    objection_window_days integer NOT NULL DEFAULT 30 CHECK (objection_window_days BETWEEN 0 AND 365),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER platform_touch BEFORE UPDATE ON platform
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

-- Clinics are the tenants (controllers). The registry itself is platform data:
-- public pages resolve a clinic by slug before any tenant scope exists.
CREATE TABLE clinics (
    id                 uuid PRIMARY KEY,
    slug               text NOT NULL UNIQUE
                       CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    legal_name         text NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 200),
    country            text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    jurisdiction       text NOT NULL CHECK (jurisdiction IN ('eu_gdpr', 'uk_gdpr', 'other')),
    default_locale     text NOT NULL DEFAULT 'en' CHECK (default_locale IN ('en', 'uk')),
    -- Deadline for answering privacy requests: one calendar month (GDPR Art. 12(3))
    -- or a fixed number of days.
    deadline_rule      text NOT NULL DEFAULT 'calendar_month'
                       CHECK (deadline_rule IN ('calendar_month', 'days')),
    deadline_days      integer CHECK (deadline_days BETWEEN 1 AND 90),
    notice_period_days integer NOT NULL DEFAULT 30 CHECK (notice_period_days BETWEEN 0 AND 365),
    contact_email      text NOT NULL,
    dpo_name           text,
    dpo_email          text,
    dpo_phone          text,
    authority_name     text NOT NULL,
    authority_url      text,
    authority_email    text,
    allowed_origins    text[] NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'suspended', 'offboarding')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((deadline_rule = 'days') = (deadline_days IS NOT NULL))
);
CREATE TRIGGER clinics_touch BEFORE UPDATE ON clinics
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

-- People who sign in. One user may belong to several clinics.
CREATE TABLE users (
    id                uuid PRIMARY KEY,
    email             text NOT NULL,
    display_name      text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    platform_role     text CHECK (platform_role IN ('operator')),
    disabled_at       timestamptz,
    last_sign_in_at   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (email = lower(email))
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

CREATE TABLE memberships (
    id          uuid PRIMARY KEY,
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'privacy_officer', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);
CREATE TRIGGER memberships_touch BEFORE UPDATE ON memberships
    FOR EACH ROW EXECUTE FUNCTION portal_touch_updated_at();

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (portal_scope_allows(clinic_id)) WITH CHECK (portal_scope_allows(clinic_id));
