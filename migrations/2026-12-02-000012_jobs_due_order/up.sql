-- Workers claim due jobs in (run_at, id) order. With run_at alone in the
-- index, Postgres sorted every due job to find the first few, which with a
-- backlog of emails made each claim cost milliseconds; with id in the index
-- the claim reads just the rows it takes.
DROP INDEX jobs_due_idx;
CREATE INDEX jobs_due_idx ON jobs (run_at, id) WHERE status = 'pending';
