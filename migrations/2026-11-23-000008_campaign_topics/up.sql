-- Change notices are sent about either a document version or a change of a
-- sub-processor register, and subscribers choose which of the two they hear
-- about.

ALTER TABLE campaigns ALTER COLUMN version_id DROP NOT NULL;
ALTER TABLE campaigns ADD COLUMN change_id uuid UNIQUE REFERENCES subprocessor_changes (id);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_one_subject CHECK (num_nonnulls(version_id, change_id) = 1);

-- topics: what a confirmed subscriber hears about; requested_topics: what
-- the pending confirmation link would add. Existing subscribers asked for
-- policy notices (the column default fills them without an UPDATE).
ALTER TABLE subscribers
    ADD COLUMN topics text[] NOT NULL DEFAULT '{notices}'
        CHECK (topics <@ ARRAY['notices', 'subprocessors']),
    ADD COLUMN requested_topics text[] NOT NULL DEFAULT '{}'
        CHECK (requested_topics <@ ARRAY['notices', 'subprocessors']);
ALTER TABLE subscribers ALTER COLUMN topics SET DEFAULT '{}';
