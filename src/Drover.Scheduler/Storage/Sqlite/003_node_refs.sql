-- Version 3: the node's own name for an attempt, when it has one (an ECS task ARN). Kept so that a restarted
-- scheduler follows, stops and reads the log of the very task it started, without asking the node to find it again.

ALTER TABLE attempts ADD COLUMN node_ref TEXT;
