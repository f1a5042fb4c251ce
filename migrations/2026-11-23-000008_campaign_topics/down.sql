ALTER TABLE subscribers DROP COLUMN requested_topics, DROP COLUMN topics;
-- Row-level security hides every tenant row from a transaction without a
-- scope: the system scope sees the campaigns to remove.
SELECT set_config('portal.scope', 'system', true);
DELETE FROM campaigns WHERE change_id IS NOT NULL;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_one_subject;
ALTER TABLE campaigns DROP COLUMN change_id;
ALTER TABLE campaigns ALTER COLUMN version_id SET NOT NULL;
