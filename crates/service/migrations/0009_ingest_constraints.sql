-- Ingest near the storage floor on PostgreSQL (issue 14 item 1).
--
-- The rows a feed ingest writes for every input row (observations, fact heads, state events,
-- findings, provenance runs) referenced their parents through foreign keys, and PostgreSQL checks
-- each reference with a one-row query per inserted row: 36 % of the server's CPU in a 50,000-row
-- ingest (perf on the backend), about seven checks per row. Every one of these rows is written
-- by the batch writer (`store::write_batch_in`) with ids it read or reserved in the same
-- transaction, and no code path deletes a host, an observation, an organisation or an ingest,
-- so the checks could never fail. They are dropped on PostgreSQL; the references written by
-- people (contacts, networks, ASNs, tokens, a host's organisation) keep theirs.
-- SQLite keeps its foreign keys: its check is a b-tree probe inside the same call, and dropping
-- one there means rebuilding the table.

-- @postgres
ALTER TABLE observation DROP CONSTRAINT IF EXISTS observation_ingest_id_fkey;
ALTER TABLE observation DROP CONSTRAINT IF EXISTS observation_host_id_fkey;
ALTER TABLE fact_head DROP CONSTRAINT IF EXISTS fact_head_host_id_fkey;
ALTER TABLE fact_head DROP CONSTRAINT IF EXISTS fact_head_observation_id_fkey;
ALTER TABLE state_event DROP CONSTRAINT IF EXISTS state_event_host_id_fkey;
ALTER TABLE state_event DROP CONSTRAINT IF EXISTS state_event_org_id_fkey;
ALTER TABLE state_event DROP CONSTRAINT IF EXISTS state_event_observation_id_fkey;
ALTER TABLE finding DROP CONSTRAINT IF EXISTS finding_host_id_fkey;
ALTER TABLE ingest_lines DROP CONSTRAINT IF EXISTS ingest_lines_ingest_id_fkey;
-- @end
