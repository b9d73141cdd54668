-- A year of daily reports stays small (issue 14, item 2): an unchanged fact seen again extends
-- the observation that first recorded it instead of adding a row. Additive only: the columns
-- the readers know keep their meaning (observed_at, ingest_id and line are the first sighting).

-- The last sighting of the fact and how often it was seen (NULL: seen once, at observed_at).
ALTER TABLE observation ADD COLUMN last_observed_at TEXT;
ALTER TABLE observation ADD COLUMN seen_count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE observation ADD COLUMN last_ingest_id BIGINT;
ALTER TABLE observation ADD COLUMN last_line BIGINT;

-- The current fact of each host per stream (feed and port, e.g. `shadowserver|443`): the
-- observation a row with the same fact extends. `fact` is the row's signals, tags, version,
-- url and findings; a different one starts a new observation (and becomes the head).
CREATE TABLE fact_head (
    host_id BIGINT NOT NULL REFERENCES host(id),
    stream TEXT NOT NULL,
    fact TEXT NOT NULL,
    observation_id BIGINT NOT NULL REFERENCES observation(id),
    PRIMARY KEY (host_id, stream)
);

-- Row-level provenance: for a run of lines of one ingest, the observation each line went to
-- (comma-separated ids, one per line from first_line to last_line, empty for a line that made
-- none). Kept for `line_detail_days` (the ingest row with its hash and counts is kept forever).
CREATE TABLE ingest_lines (
    ingest_id BIGINT NOT NULL REFERENCES ingest(id),
    first_line BIGINT NOT NULL,
    last_line BIGINT NOT NULL,
    observation_ids TEXT NOT NULL,
    PRIMARY KEY (ingest_id, first_line)
);
