-- Version 4: the W3C traceparent of the request that submitted a job, so that its start on a node (however much
-- later) continues the submitter's trace, and its record names the trace.

ALTER TABLE jobs ADD COLUMN trace_parent TEXT;
