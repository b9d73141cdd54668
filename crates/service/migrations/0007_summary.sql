-- The overview without a scan per request (issue 11 at scale): the state matrix and the trend
-- chart read small summaries the database keeps itself, like the tallies of migration 0006.
--
-- `state_daily`: per day (the first 10 characters of the event's `at`) and technical state, the
-- net number of hosts that moved into the state that day (+1 for an event's `to_state`, -1 for
-- its `from_state`). A host's technical events never go back in time (state::HostState::apply),
-- so the running sum over the days up to D is the number of hosts in each state at the end of
-- D: the answer the state history gives (`query::stats` with `?at=`), in a few hundred rows.
-- A day with technical events always has a row (the `to_state` one, even when the day's moves
-- cancel out), so the chart's days are the history's days.
CREATE TABLE state_daily (
    day TEXT NOT NULL,
    tech_state TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, tech_state)
);
INSERT INTO state_daily (day, tech_state, n)
    SELECT day, state, SUM(d) FROM (
        SELECT SUBSTR(at, 1, 10) AS day, to_state AS state, 1 AS d FROM state_event WHERE axis = 'technical'
        UNION ALL
        SELECT SUBSTR(at, 1, 10), from_state, -1 FROM state_event WHERE axis = 'technical' AND from_state IS NOT NULL
    ) m GROUP BY day, state;

-- `org_matrix`: organisations and the sum of their hosts per (technical rank, communication
-- state): the overview's matrix. Organisations without hosts have rank -1 (left out when read).
CREATE TABLE org_matrix (
    tech_rank BIGINT NOT NULL,
    comm_state TEXT NOT NULL,
    orgs BIGINT NOT NULL,
    hosts BIGINT NOT NULL,
    PRIMARY KEY (tech_rank, comm_state)
);
INSERT INTO org_matrix (tech_rank, comm_state, orgs, hosts)
    SELECT tech_rank, comm_state, COUNT(*), SUM(hosts) FROM organisation GROUP BY tech_rank, comm_state;

-- The overview's regressed-host list (`regressed = 1`, worst first): a partial index holds only
-- those hosts, so the list does not walk every host to find the few regressed ones.
CREATE INDEX host_regressed ON host (tech_rank DESC, id) WHERE regressed = 1;

-- @sqlite
CREATE TRIGGER state_daily_insert AFTER INSERT ON state_event WHEN NEW.axis = 'technical' BEGIN
    INSERT INTO state_daily (day, tech_state, n) VALUES (SUBSTR(NEW.at, 1, 10), NEW.to_state, 1)
        ON CONFLICT (day, tech_state) DO UPDATE SET n = n + 1;
    INSERT INTO state_daily (day, tech_state, n)
        SELECT SUBSTR(NEW.at, 1, 10), NEW.from_state, -1 WHERE NEW.from_state IS NOT NULL
        ON CONFLICT (day, tech_state) DO UPDATE SET n = n - 1;
END;
CREATE TRIGGER state_daily_delete AFTER DELETE ON state_event WHEN OLD.axis = 'technical' BEGIN
    UPDATE state_daily SET n = n - 1 WHERE day = SUBSTR(OLD.at, 1, 10) AND tech_state = OLD.to_state;
    UPDATE state_daily SET n = n + 1 WHERE day = SUBSTR(OLD.at, 1, 10) AND tech_state = OLD.from_state;
END;
CREATE TRIGGER org_matrix_insert AFTER INSERT ON organisation BEGIN
    INSERT INTO org_matrix (tech_rank, comm_state, orgs, hosts) VALUES (NEW.tech_rank, NEW.comm_state, 1, NEW.hosts)
        ON CONFLICT (tech_rank, comm_state) DO UPDATE SET orgs = orgs + 1, hosts = hosts + excluded.hosts;
END;
CREATE TRIGGER org_matrix_update AFTER UPDATE OF tech_rank, comm_state, hosts ON organisation
    WHEN OLD.tech_rank IS NOT NEW.tech_rank OR OLD.comm_state IS NOT NEW.comm_state OR OLD.hosts IS NOT NEW.hosts BEGIN
    UPDATE org_matrix SET orgs = orgs - 1, hosts = hosts - OLD.hosts
        WHERE tech_rank = OLD.tech_rank AND comm_state = OLD.comm_state;
    INSERT INTO org_matrix (tech_rank, comm_state, orgs, hosts) VALUES (NEW.tech_rank, NEW.comm_state, 1, NEW.hosts)
        ON CONFLICT (tech_rank, comm_state) DO UPDATE SET orgs = orgs + 1, hosts = hosts + excluded.hosts;
END;
CREATE TRIGGER org_matrix_delete AFTER DELETE ON organisation BEGIN
    UPDATE org_matrix SET orgs = orgs - 1, hosts = hosts - OLD.hosts
        WHERE tech_rank = OLD.tech_rank AND comm_state = OLD.comm_state;
END;
-- @end

-- @postgres
-- Statement triggers over transition tables, as in 0006: one aggregate per multi-row statement,
-- folded in key order (a fixed lock order between concurrent writers).
CREATE FUNCTION state_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO state_daily (day, tech_state, n)
            SELECT day, state, SUM(d) FROM (
                SELECT SUBSTR(at, 1, 10) AS day, to_state AS state, 1 AS d FROM new_rows WHERE axis = 'technical'
                UNION ALL
                SELECT SUBSTR(at, 1, 10), from_state, -1 FROM new_rows WHERE axis = 'technical' AND from_state IS NOT NULL
            ) m GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (day, tech_state) DO UPDATE SET n = state_daily.n + excluded.n;
    ELSE
        INSERT INTO state_daily (day, tech_state, n)
            SELECT day, state, SUM(d) FROM (
                SELECT SUBSTR(at, 1, 10) AS day, to_state AS state, -1 AS d FROM old_rows WHERE axis = 'technical'
                UNION ALL
                SELECT SUBSTR(at, 1, 10), from_state, 1 FROM old_rows WHERE axis = 'technical' AND from_state IS NOT NULL
            ) m GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (day, tech_state) DO UPDATE SET n = state_daily.n + excluded.n;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER state_daily_insert AFTER INSERT ON state_event REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION state_daily_apply();
CREATE TRIGGER state_daily_delete AFTER DELETE ON state_event REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION state_daily_apply();

CREATE FUNCTION org_matrix_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO org_matrix (tech_rank, comm_state, orgs, hosts)
            SELECT tech_rank, comm_state, COUNT(*), SUM(hosts) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (tech_rank, comm_state) DO UPDATE
                SET orgs = org_matrix.orgs + excluded.orgs, hosts = org_matrix.hosts + excluded.hosts;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO org_matrix (tech_rank, comm_state, orgs, hosts)
            SELECT tech_rank, comm_state, SUM(d), SUM(h) FROM (
                SELECT tech_rank, comm_state, 1 AS d, hosts AS h FROM new_rows
                UNION ALL SELECT tech_rank, comm_state, -1, -hosts FROM old_rows) c
            GROUP BY 1, 2 HAVING SUM(d) <> 0 OR SUM(h) <> 0 ORDER BY 1, 2
            ON CONFLICT (tech_rank, comm_state) DO UPDATE
                SET orgs = org_matrix.orgs + excluded.orgs, hosts = org_matrix.hosts + excluded.hosts;
    ELSE
        INSERT INTO org_matrix (tech_rank, comm_state, orgs, hosts)
            SELECT tech_rank, comm_state, -COUNT(*), -SUM(hosts) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (tech_rank, comm_state) DO UPDATE
                SET orgs = org_matrix.orgs + excluded.orgs, hosts = org_matrix.hosts + excluded.hosts;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER org_matrix_insert AFTER INSERT ON organisation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION org_matrix_apply();
CREATE TRIGGER org_matrix_update AFTER UPDATE ON organisation REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION org_matrix_apply();
CREATE TRIGGER org_matrix_delete AFTER DELETE ON organisation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION org_matrix_apply();
-- @end
