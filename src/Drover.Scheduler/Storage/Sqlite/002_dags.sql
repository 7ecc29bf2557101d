-- Version 2: DAGs (dependencies between jobs, roots, waiting for children) and the durable event feed.

ALTER TABLE jobs ADD COLUMN root INTEGER;                                -- the DAG: parent's root, else first dependency's, else itself
ALTER TABLE jobs ADD COLUMN waiting_on INTEGER NOT NULL DEFAULT 0;       -- dependencies not yet resolved; placed only at 0
ALTER TABLE jobs ADD COLUMN wait_for_children INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN awaiting_children INTEGER NOT NULL DEFAULT 0; -- commands ended good; children still running

-- What the placement loop scans: only jobs whose dependencies all resolved, so blocked jobs cost it nothing.
-- It replaces jobs_queue, which the planner would otherwise prefer and which holds blocked jobs too.
DROP INDEX jobs_queue;
CREATE INDEX jobs_ready ON jobs (waiting_on, priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_root ON jobs (root) WHERE root IS NOT NULL;
CREATE INDEX jobs_awaiting ON jobs (id) WHERE awaiting_children = 1;

CREATE TABLE dependencies (
    job_id        INTEGER NOT NULL REFERENCES jobs (id),   -- the job that waits
    depends_on    INTEGER NOT NULL REFERENCES jobs (id),   -- the job it waits for
    condition     TEXT    NOT NULL,                        -- afterok | afternotok | afterany
    PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX dependencies_upstream ON dependencies (depends_on);

-- Every change of a job's state, written in the transaction that made it; seq is the SSE event id.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    job_id        INTEGER,
    root          INTEGER,
    parent        INTEGER,
    state         TEXT,
    status        TEXT,
    reason        TEXT,
    node          TEXT
);
CREATE INDEX events_job ON events (job_id, seq);
CREATE INDEX events_root ON events (root, seq);
