-- The owners' mappings kept in memory between writes (issue 14 item 4, the load test).
--
-- `mapping_version`: bumped by every change to the owners' mappings (ASN ranges, networks and
-- ASNs of organisations), so a server keeps the enrichment tables in memory between writes and
-- reloads them only when this number moved (`enrich::Enricher::load`). Before, every upload
-- and analyst record re-read every mapping (120,000 rows at national scale) under the write
-- lock: seconds per write, and the reason writers queued.
CREATE TABLE mapping_version (
    id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO mapping_version (id, n) VALUES (1, 0);

-- @sqlite
CREATE TRIGGER ip_asn_version_insert AFTER INSERT ON ip_asn BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER ip_asn_version_update AFTER UPDATE ON ip_asn BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER ip_asn_version_delete AFTER DELETE ON ip_asn BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER org_network_version_insert AFTER INSERT ON org_network BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER org_network_version_update AFTER UPDATE ON org_network BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER org_network_version_delete AFTER DELETE ON org_network BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER org_asn_version_insert AFTER INSERT ON org_asn BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER org_asn_version_update AFTER UPDATE ON org_asn BEGIN UPDATE mapping_version SET n = n + 1; END;
CREATE TRIGGER org_asn_version_delete AFTER DELETE ON org_asn BEGIN UPDATE mapping_version SET n = n + 1; END;
-- @end

-- @postgres
CREATE FUNCTION mapping_version_bump() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE mapping_version SET n = n + 1;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER ip_asn_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ip_asn
    FOR EACH STATEMENT EXECUTE FUNCTION mapping_version_bump();
CREATE TRIGGER org_network_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON org_network
    FOR EACH STATEMENT EXECUTE FUNCTION mapping_version_bump();
CREATE TRIGGER org_asn_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON org_asn
    FOR EACH STATEMENT EXECUTE FUNCTION mapping_version_bump();
-- @end
