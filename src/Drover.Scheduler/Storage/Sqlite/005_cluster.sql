-- Version 5: what several schedulers over one database share (PostgreSQL; a SQLite file keeps one scheduler, with
-- the same schema): node health and load in the store, an owner for each active attempt, the schedulers' presence
-- and the leases of work done by one of them.

ALTER TABLE nodes ADD COLUMN last_seen INTEGER;                  -- the last heartbeat any scheduler heard
ALTER TABLE nodes ADD COLUMN slots INTEGER NOT NULL DEFAULT 0;   -- as the node announces them; 0: it does not say
ALTER TABLE nodes ADD COLUMN active INTEGER NOT NULL DEFAULT 0;  -- its placed and running attempts, counted as they change
UPDATE nodes SET
    active = (SELECT COUNT(*) FROM attempts a WHERE a.node = nodes.name AND a.state IN ('placed', 'running')),
    slots = COALESCE(json_extract(info, '$.slots'), 0);

ALTER TABLE attempts ADD COLUMN owner TEXT;                      -- the scheduler that follows it (polls, times out, kills)

CREATE TABLE schedulers (
    id            TEXT    PRIMARY KEY,                           -- drawn at each start
    url           TEXT,
    started_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL                               -- renewed while it lives; past it, its attempts are taken over
);

CREATE TABLE leases (
    name          TEXT    PRIMARY KEY,                           -- e.g. 'maintenance'
    holder        TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL
);
