ALTER TABLE subscribers DROP COLUMN requested_topics, DROP COLUMN topics;
DELETE FROM campaigns WHERE change_id IS NOT NULL;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_one_subject;
ALTER TABLE campaigns DROP COLUMN change_id;
ALTER TABLE campaigns ALTER COLUMN version_id SET NOT NULL;
