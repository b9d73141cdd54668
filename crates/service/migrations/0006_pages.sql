-- Deep pages as fast as the first (issue 14): list totals kept by the database itself, and
-- background jobs with progress.
--
-- The tallies are maintained by triggers, so every write path (feed ingests, uploads, analyst
-- records, roll-ups, re-enrichment, imports) keeps them exact in its own transaction without
-- knowing about them. Lines between `-- @sqlite` / `-- @postgres` and `-- @end` are applied to
-- that database only (src/db.rs): SQLite gets row triggers; PostgreSQL gets statement triggers
-- over transition tables (one aggregate per multi-row statement, not one counter update per row:
-- a row trigger would rewrite the same counter row hundreds of thousands of times in one ingest).

-- Hosts per (technical rank, regressed): the host list's totals and the dashboard's host counts.
CREATE TABLE host_tally (
    tech_rank BIGINT NOT NULL,
    regressed BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tech_rank, regressed)
);
INSERT INTO host_tally (tech_rank, regressed, n)
    SELECT tech_rank, regressed, COUNT(*) FROM host GROUP BY tech_rank, regressed;

-- Organisations per (technical rank, communication state, has a regressed host): the
-- organisation list's totals and the dashboard's organisation counts.
CREATE TABLE org_tally (
    tech_rank BIGINT NOT NULL,
    comm_state TEXT NOT NULL,
    regressed BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tech_rank, comm_state, regressed)
);
INSERT INTO org_tally (tech_rank, comm_state, regressed, n)
    SELECT tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END, COUNT(*) FROM organisation
    GROUP BY tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END;

-- Rows of small tables whose lists show a total (`ingest`).
CREATE TABLE row_tally (
    name TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO row_tally (name, n) SELECT 'ingest', COUNT(*) FROM ingest;

-- Work that must not run inside a request (re-enrichment after a mapping change): queued here,
-- run by one worker at a time, its progress readable through the API.
CREATE TABLE job (
    id {{ID}},
    kind TEXT NOT NULL,               -- reenrich
    status TEXT NOT NULL,             -- pending | running | done | failed
    requested_at TEXT NOT NULL,
    requested_by TEXT NOT NULL,       -- 'cli', 'token:<name>', 'analyst:<name>', 'ingest:<id>'
    started_at TEXT,
    finished_at TEXT,
    done BIGINT NOT NULL DEFAULT 0,   -- items processed so far (hosts)
    total BIGINT NOT NULL DEFAULT 0,  -- items to process, known when the job starts
    changed BIGINT NOT NULL DEFAULT 0,
    message TEXT
);
CREATE INDEX job_status ON job (status, id);

-- @sqlite
CREATE TRIGGER host_tally_insert AFTER INSERT ON host BEGIN
    INSERT INTO host_tally (tech_rank, regressed, n) VALUES (NEW.tech_rank, NEW.regressed, 1)
        ON CONFLICT (tech_rank, regressed) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER host_tally_update AFTER UPDATE OF tech_rank, regressed ON host
    WHEN OLD.tech_rank IS NOT NEW.tech_rank OR OLD.regressed IS NOT NEW.regressed BEGIN
    UPDATE host_tally SET n = n - 1 WHERE tech_rank = OLD.tech_rank AND regressed = OLD.regressed;
    INSERT INTO host_tally (tech_rank, regressed, n) VALUES (NEW.tech_rank, NEW.regressed, 1)
        ON CONFLICT (tech_rank, regressed) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER host_tally_delete AFTER DELETE ON host BEGIN
    UPDATE host_tally SET n = n - 1 WHERE tech_rank = OLD.tech_rank AND regressed = OLD.regressed;
END;
CREATE TRIGGER org_tally_insert AFTER INSERT ON organisation BEGIN
    INSERT INTO org_tally (tech_rank, comm_state, regressed, n)
        VALUES (NEW.tech_rank, NEW.comm_state, NEW.regressed > 0, 1)
        ON CONFLICT (tech_rank, comm_state, regressed) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER org_tally_update AFTER UPDATE OF tech_rank, comm_state, regressed ON organisation
    WHEN OLD.tech_rank IS NOT NEW.tech_rank OR OLD.comm_state IS NOT NEW.comm_state
        OR (OLD.regressed > 0) IS NOT (NEW.regressed > 0) BEGIN
    UPDATE org_tally SET n = n - 1
        WHERE tech_rank = OLD.tech_rank AND comm_state = OLD.comm_state AND regressed = (OLD.regressed > 0);
    INSERT INTO org_tally (tech_rank, comm_state, regressed, n)
        VALUES (NEW.tech_rank, NEW.comm_state, NEW.regressed > 0, 1)
        ON CONFLICT (tech_rank, comm_state, regressed) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER org_tally_delete AFTER DELETE ON organisation BEGIN
    UPDATE org_tally SET n = n - 1
        WHERE tech_rank = OLD.tech_rank AND comm_state = OLD.comm_state AND regressed = (OLD.regressed > 0);
END;
CREATE TRIGGER ingest_tally_insert AFTER INSERT ON ingest BEGIN
    INSERT INTO row_tally (name, n) VALUES ('ingest', 1) ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER ingest_tally_delete AFTER DELETE ON ingest BEGIN
    UPDATE row_tally SET n = n - 1 WHERE name = 'ingest';
END;
-- @end

-- @postgres
-- One function per table: the rows a statement added (+1) and removed (-1), grouped by key,
-- folded into the tally in key order (a fixed lock order between concurrent writers).
CREATE FUNCTION host_tally_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO host_tally (tech_rank, regressed, n)
            SELECT tech_rank, regressed, COUNT(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (tech_rank, regressed) DO UPDATE SET n = host_tally.n + excluded.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO host_tally (tech_rank, regressed, n)
            SELECT tech_rank, regressed, SUM(d) FROM (
                SELECT tech_rank, regressed, 1 AS d FROM new_rows
                UNION ALL SELECT tech_rank, regressed, -1 AS d FROM old_rows) c
            GROUP BY 1, 2 HAVING SUM(d) <> 0 ORDER BY 1, 2
            ON CONFLICT (tech_rank, regressed) DO UPDATE SET n = host_tally.n + excluded.n;
    ELSE
        INSERT INTO host_tally (tech_rank, regressed, n)
            SELECT tech_rank, regressed, -COUNT(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (tech_rank, regressed) DO UPDATE SET n = host_tally.n + excluded.n;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER host_tally_insert AFTER INSERT ON host REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION host_tally_apply();
CREATE TRIGGER host_tally_update AFTER UPDATE ON host REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION host_tally_apply();
CREATE TRIGGER host_tally_delete AFTER DELETE ON host REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION host_tally_apply();

CREATE FUNCTION org_tally_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO org_tally (tech_rank, comm_state, regressed, n)
            SELECT tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END, COUNT(*) FROM new_rows
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (tech_rank, comm_state, regressed) DO UPDATE SET n = org_tally.n + excluded.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO org_tally (tech_rank, comm_state, regressed, n)
            SELECT tech_rank, comm_state, r, SUM(d) FROM (
                SELECT tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END AS r, 1 AS d FROM new_rows
                UNION ALL
                SELECT tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END AS r, -1 AS d FROM old_rows) c
            GROUP BY 1, 2, 3 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (tech_rank, comm_state, regressed) DO UPDATE SET n = org_tally.n + excluded.n;
    ELSE
        INSERT INTO org_tally (tech_rank, comm_state, regressed, n)
            SELECT tech_rank, comm_state, CASE WHEN regressed > 0 THEN 1 ELSE 0 END, -COUNT(*) FROM old_rows
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (tech_rank, comm_state, regressed) DO UPDATE SET n = org_tally.n + excluded.n;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER org_tally_insert AFTER INSERT ON organisation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION org_tally_apply();
CREATE TRIGGER org_tally_update AFTER UPDATE ON organisation REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION org_tally_apply();
CREATE TRIGGER org_tally_delete AFTER DELETE ON organisation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION org_tally_apply();

CREATE FUNCTION ingest_tally_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO row_tally (name, n) SELECT 'ingest', COUNT(*) FROM new_rows HAVING COUNT(*) > 0
            ON CONFLICT (name) DO UPDATE SET n = row_tally.n + excluded.n;
    ELSE
        INSERT INTO row_tally (name, n) SELECT 'ingest', -COUNT(*) FROM old_rows HAVING COUNT(*) > 0
            ON CONFLICT (name) DO UPDATE SET n = row_tally.n + excluded.n;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER ingest_tally_insert AFTER INSERT ON ingest REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_tally_apply();
CREATE TRIGGER ingest_tally_delete AFTER DELETE ON ingest REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_tally_apply();
-- @end
