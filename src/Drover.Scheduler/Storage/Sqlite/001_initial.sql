-- Drover scheduler store, SQLite engine, version 1.
-- Times are Unix milliseconds (UTC); states and reasons are the API's snake_case words.

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id    TEXT    NOT NULL UNIQUE,
    spec          TEXT    NOT NULL,              -- the JobSpec as submitted (JSON)
    state         TEXT    NOT NULL,              -- queued | placed | running | stopped
    status        TEXT    NOT NULL,              -- unknown | good | error
    reason        TEXT,
    priority      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,    -- attempts made; the current one has this number
    failures      INTEGER NOT NULL DEFAULT 0,    -- failed attempts that count against max_attempts
    parent        INTEGER,
    node          TEXT,                          -- node of the latest attempt
    exit_code     INTEGER,
    message       TEXT,
    timeout_ms    INTEGER,
    files_dir     TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    not_before    INTEGER,                       -- a retry waits until then
    queue_reason  TEXT,                          -- why a queued job still waits
    stop_request  TEXT                           -- 'killed' once a user asked to stop it
);

-- The placement loop's scan: queued jobs by priority, then age.
CREATE INDEX jobs_queue ON jobs (state, priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_parent ON jobs (parent) WHERE parent IS NOT NULL;

CREATE TABLE attempts (
    job_id        INTEGER NOT NULL REFERENCES jobs (id),
    number        INTEGER NOT NULL,
    node          TEXT    NOT NULL,
    backend_ref   TEXT    NOT NULL,              -- the job's request id on the node: '<job id>-<number>'
    state         TEXT    NOT NULL,              -- placed | running | stopped
    status        TEXT    NOT NULL,
    reason        TEXT,
    exit_code     INTEGER,
    message       TEXT,
    stop_request  TEXT,                          -- 'killed' or 'timed_out' once the scheduler asked the node to stop it
    placed_at     INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    PRIMARY KEY (job_id, number)
);

-- The follower's scan: attempts that are placed or running, by node.
CREATE INDEX attempts_active ON attempts (node, state) WHERE state IN ('placed', 'running');

CREATE TABLE nodes (
    name          TEXT    PRIMARY KEY,
    uri           TEXT    NOT NULL,
    source        TEXT    NOT NULL,              -- static | registered
    info          TEXT,                          -- the node's last NodeInfo (JSON)
    drained       INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
);
