//! Diesel table definitions, kept in step with `migrations/` by hand and checked
//! against the live schema by the integration tests.

diesel::table! {
    platform (id) {
        id -> Bool,
        name -> Text,
        legal_name -> Text,
        contact_email -> Text,
        notice_period_days -> Int4,
        objection_window_days -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        backup_retention_days -> Int4,
    }
}

diesel::table! {
    clinics (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        legal_name -> Text,
        country -> Text,
        jurisdiction -> Text,
        default_locale -> Text,
        deadline_rule -> Text,
        deadline_days -> Nullable<Int4>,
        notice_period_days -> Int4,
        contact_email -> Text,
        dpo_name -> Nullable<Text>,
        dpo_email -> Nullable<Text>,
        dpo_phone -> Nullable<Text>,
        authority_name -> Text,
        authority_url -> Nullable<Text>,
        authority_email -> Nullable<Text>,
        allowed_origins -> Array<Text>,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        meta_app_secret_sealed -> Nullable<Bytea>,
        offboarding_started_at -> Nullable<Timestamptz>,
        delete_after -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        platform_role -> Nullable<Text>,
        disabled_at -> Nullable<Timestamptz>,
        last_sign_in_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    memberships (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Int8,
        clinic_id -> Nullable<Uuid>,
        seq -> Int8,
        occurred_at -> Timestamptz,
        actor_kind -> Text,
        actor_id -> Nullable<Uuid>,
        actor_label -> Text,
        action -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        details -> Jsonb,
        request_id -> Nullable<Text>,
        prev_hash -> Bytea,
        hash -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_queue (id) {
        id -> Int8,
        clinic_id -> Nullable<Uuid>,
        occurred_at -> Timestamptz,
        actor_kind -> Text,
        actor_id -> Nullable<Uuid>,
        actor_label -> Text,
        action -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        details -> Jsonb,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        clinic_id -> Nullable<Uuid>,
        kind -> Text,
        payload -> Jsonb,
        idempotency_key -> Nullable<Text>,
        status -> Text,
        run_at -> Timestamptz,
        attempts -> Int4,
        max_attempts -> Int4,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        finished_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    email_deliveries (id) {
        id -> Int8,
        clinic_id -> Nullable<Uuid>,
        job_id -> Nullable<Int8>,
        message_id -> Text,
        template -> Text,
        recipient -> Text,
        status -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Nullable<Uuid>,
        data -> Jsonb,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    login_tokens (id) {
        id -> Uuid,
        token_hash -> Bytea,
        user_id -> Uuid,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sso_connections (id) {
        id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        display_name -> Text,
        issuer_url -> Text,
        client_id -> Text,
        client_secret_sealed -> Bytea,
        membership_mode -> Text,
        default_role -> Text,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sso_domains (domain) {
        domain -> Text,
        connection_id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        email -> Text,
        role -> Text,
        token_hash -> Bytea,
        invited_by -> Nullable<Uuid>,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    rate_limit_counters (key, window_start) {
        key -> Text,
        window_start -> Timestamptz,
        hits -> Int4,
    }
}

diesel::table! {
    privacy_requests (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        reference -> Nullable<Text>,
        kind -> Text,
        status -> Text,
        outcome -> Nullable<Text>,
        outcome_reason -> Nullable<Text>,
        source -> Text,
        locale -> Text,
        requester_name -> Text,
        requester_email -> Nullable<Text>,
        requester_phone -> Nullable<Text>,
        acting_as -> Text,
        subject_name -> Nullable<Text>,
        date_of_birth -> Nullable<Date>,
        patient_number -> Nullable<Text>,
        details -> Text,
        verification_token_hash -> Nullable<Bytea>,
        verification_expires_at -> Nullable<Timestamptz>,
        access_token_sealed -> Nullable<Bytea>,
        verified_at -> Nullable<Timestamptz>,
        base_due_on -> Nullable<Date>,
        due_on -> Nullable<Date>,
        paused_since -> Nullable<Date>,
        paused_days -> Int4,
        extension_months -> Nullable<Int4>,
        extension_reason -> Nullable<Text>,
        assignee_id -> Nullable<Uuid>,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    request_events (id) {
        id -> Int8,
        clinic_id -> Uuid,
        request_id -> Uuid,
        kind -> Text,
        author_kind -> Text,
        author_id -> Nullable<Uuid>,
        body -> Text,
        visible_to_requester -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    request_files (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        request_id -> Uuid,
        filename -> Text,
        content_type -> Text,
        size_bytes -> Int8,
        sha256 -> Bytea,
        sealed -> Bytea,
        uploaded_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    meta_deletions (confirmation_code) {
        confirmation_code -> Text,
        clinic_id -> Uuid,
        request_id -> Uuid,
        meta_user_id -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    meta_callback_replays (clinic_id, callback, digest) {
        clinic_id -> Uuid,
        callback -> Text,
        digest -> Bytea,
        confirmation_code -> Nullable<Text>,
        seen_at -> Timestamptz,
    }
}

diesel::table! {
    download_grants (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        request_id -> Uuid,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    documents (id) {
        id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        kind -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    document_versions (id) {
        id -> Uuid,
        document_id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        number -> Nullable<Int4>,
        state -> Text,
        title -> Text,
        body_md -> Text,
        summary -> Text,
        material -> Bool,
        effective_at -> Nullable<Timestamptz>,
        published_at -> Nullable<Timestamptz>,
        published_by -> Nullable<Uuid>,
        ended_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    subscribers (id) {
        id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        email -> Text,
        locale -> Text,
        status -> Text,
        confirm_token_hash -> Nullable<Bytea>,
        confirm_expires_at -> Nullable<Timestamptz>,
        confirmed_at -> Nullable<Timestamptz>,
        unsubscribed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        topics -> Array<Text>,
        requested_topics -> Array<Text>,
    }
}

diesel::table! {
    suppressions (id) {
        id -> Int8,
        clinic_id -> Nullable<Uuid>,
        email -> Text,
        reason -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    recipient_lists (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    recipient_list_members (list_id, email) {
        list_id -> Uuid,
        clinic_id -> Uuid,
        email -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        version_id -> Nullable<Uuid>,
        status -> Text,
        recipients -> Int4,
        suppressed -> Int4,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        change_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    campaign_recipients (id) {
        id -> Int8,
        campaign_id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        email -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    acknowledgements (version_id, clinic_id, user_id) {
        version_id -> Uuid,
        clinic_id -> Uuid,
        user_id -> Uuid,
        acknowledged_at -> Timestamptz,
    }
}

diesel::table! {
    subprocessors (id) {
        id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        legal_name -> Text,
        service -> Text,
        purpose -> Text,
        data_categories -> Array<Text>,
        countries -> Array<Text>,
        safeguard -> Text,
        website -> Nullable<Text>,
        terms_url -> Nullable<Text>,
        status -> Text,
        active_since -> Nullable<Timestamptz>,
        retired_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    subprocessor_changes (id) {
        id -> Uuid,
        clinic_id -> Nullable<Uuid>,
        kind -> Text,
        subprocessor_id -> Uuid,
        replaces_id -> Nullable<Uuid>,
        summary -> Text,
        status -> Text,
        objection_deadline -> Timestamptz,
        effective_at -> Timestamptz,
        announced_by -> Nullable<Uuid>,
        announced_at -> Timestamptz,
        applied_at -> Nullable<Timestamptz>,
        cancelled_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    subprocessor_objections (id) {
        id -> Uuid,
        change_id -> Uuid,
        clinic_id -> Uuid,
        reason -> Text,
        status -> Text,
        raised_by -> Nullable<Uuid>,
        raised_at -> Timestamptz,
        resolution -> Nullable<Text>,
        resolved_by -> Nullable<Uuid>,
        resolved_at -> Nullable<Timestamptz>,
        withdrawn_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    consent_purposes (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        key -> Text,
        channel -> Text,
        name_en -> Text,
        name_uk -> Text,
        description_en -> Text,
        description_uk -> Text,
        legal_basis -> Text,
        strictly_necessary -> Bool,
        position -> Integer,
        archived_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    consent_cookies (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        purpose_id -> Uuid,
        name -> Text,
        domain -> Text,
        provider -> Text,
        duration -> Text,
        party -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    consent_configs (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        version -> Integer,
        content_hash -> Text,
        purposes -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    consent_keys (clinic_id) {
        clinic_id -> Uuid,
        key_id -> Text,
        public_key -> Bytea,
        secret_sealed -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    consent_records (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        subject_id -> Text,
        config_id -> Uuid,
        choices -> Jsonb,
        source -> Text,
        gpc -> Bool,
        recorded_at -> Timestamptz,
        receipt -> Text,
    }
}

diesel::table! {
    retention_rules (clinic_id, category) {
        clinic_id -> Uuid,
        category -> Text,
        period_days -> Int4,
        action -> Text,
        updated_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    retention_runs (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        dry_run -> Bool,
        trigger -> Text,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        counts -> Jsonb,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    audit_anchors (clinic_id) {
        clinic_id -> Uuid,
        seq -> Int8,
        hash -> Bytea,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    clinic_exports (id) {
        id -> Uuid,
        clinic_id -> Uuid,
        requested_by -> Nullable<Uuid>,
        reason -> Text,
        status -> Text,
        progress -> Int4,
        stage -> Text,
        size_bytes -> Nullable<Int8>,
        sha256 -> Nullable<Bytea>,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    clinic_export_chunks (export_id, n) {
        export_id -> Uuid,
        clinic_id -> Uuid,
        n -> Int4,
        sealed -> Bytea,
    }
}

diesel::joinable!(memberships -> clinics (clinic_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(audit_events -> clinics (clinic_id));
diesel::joinable!(audit_queue -> clinics (clinic_id));
diesel::joinable!(jobs -> clinics (clinic_id));
diesel::joinable!(email_deliveries -> jobs (job_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(login_tokens -> users (user_id));
diesel::joinable!(sso_connections -> clinics (clinic_id));
diesel::joinable!(sso_domains -> sso_connections (connection_id));
diesel::joinable!(invitations -> clinics (clinic_id));
diesel::joinable!(privacy_requests -> clinics (clinic_id));
diesel::joinable!(privacy_requests -> users (assignee_id));
diesel::joinable!(request_events -> privacy_requests (request_id));
diesel::joinable!(request_events -> users (author_id));
diesel::joinable!(request_files -> privacy_requests (request_id));
diesel::joinable!(download_grants -> privacy_requests (request_id));
diesel::joinable!(meta_deletions -> privacy_requests (request_id));
diesel::joinable!(document_versions -> documents (document_id));
diesel::joinable!(campaigns -> document_versions (version_id));
diesel::joinable!(campaign_recipients -> campaigns (campaign_id));
diesel::joinable!(recipient_list_members -> recipient_lists (list_id));
diesel::joinable!(acknowledgements -> document_versions (version_id));
diesel::joinable!(acknowledgements -> users (user_id));
diesel::joinable!(subprocessor_objections -> subprocessor_changes (change_id));
diesel::joinable!(subprocessor_changes -> subprocessors (subprocessor_id));
diesel::joinable!(campaigns -> subprocessor_changes (change_id));
diesel::joinable!(subprocessor_objections -> clinics (clinic_id));
diesel::joinable!(consent_cookies -> consent_purposes (purpose_id));
diesel::joinable!(consent_records -> consent_configs (config_id));
diesel::joinable!(clinic_export_chunks -> clinic_exports (export_id));

diesel::allow_tables_to_appear_in_same_query!(
    platform,
    clinics,
    users,
    memberships,
    audit_events,
    audit_queue,
    jobs,
    email_deliveries,
    sessions,
    login_tokens,
    sso_connections,
    sso_domains,
    invitations,
    rate_limit_counters,
    privacy_requests,
    request_events,
    request_files,
    download_grants,
    meta_callback_replays,
    meta_deletions,
    documents,
    document_versions,
    subscribers,
    suppressions,
    recipient_lists,
    recipient_list_members,
    campaigns,
    campaign_recipients,
    acknowledgements,
    subprocessors,
    subprocessor_changes,
    subprocessor_objections,
    consent_purposes,
    consent_cookies,
    consent_configs,
    consent_keys,
    consent_records,
    retention_rules,
    retention_runs,
    audit_anchors,
    clinic_exports,
    clinic_export_chunks,
);
