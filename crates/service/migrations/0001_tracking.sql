-- The tracking service's schema, shared by SQLite and PostgreSQL.
-- `{{ID}}` is the one dialect difference: an auto-numbered 64-bit primary key
-- (SQLite: INTEGER PRIMARY KEY; PostgreSQL: BIGINT identity). See src/db.rs.
-- Times are UTC text `YYYY-MM-DDTHH:MM:SSZ` (sortable as text in both databases).
-- IP addresses are canonical text (std's Display: lower-case, compressed IPv6).

-- One file (or upload) taken in: provenance of every observation.
CREATE TABLE ingest (
    id {{ID}},
    kind TEXT NOT NULL,               -- shadowserver | intelmq | probe | hunt | asn-* | orgs
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    received_at TEXT NOT NULL,
    uploader TEXT NOT NULL,           -- 'cli' or 'token:<name>'
    status TEXT NOT NULL,             -- running | done | failed
    rows_total BIGINT NOT NULL DEFAULT 0,
    rows_ok BIGINT NOT NULL DEFAULT 0,
    rows_duplicate BIGINT NOT NULL DEFAULT 0,
    rows_rejected BIGINT NOT NULL DEFAULT 0,
    rows_ignored BIGINT NOT NULL DEFAULT 0,    -- e.g. probe answers from non-Exchange addresses we do not track
    message TEXT,
    UNIQUE (kind, sha256)
);

-- Rows of an ingest that were rejected, with their line numbers.
CREATE TABLE ingest_error (
    id {{ID}},
    ingest_id BIGINT NOT NULL REFERENCES ingest(id),
    line BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX ingest_error_ingest ON ingest_error (ingest_id);

-- Organisations: imported (automatic, re-importable) or entered by an analyst (manual).
CREATE TABLE organisation (
    id {{ID}},
    name TEXT NOT NULL,
    sector TEXT,
    cc TEXT,
    managed TEXT NOT NULL,            -- automatic | manual
    source TEXT NOT NULL,             -- import file name, or 'analyst:<token name>'
    imported_at TEXT NOT NULL,
    -- Roll-up of the hosts (worst host wins), maintained on every state change.
    tech_state TEXT,                  -- NULL while the organisation has no host
    tech_rank BIGINT NOT NULL DEFAULT -1,
    comm_state TEXT NOT NULL DEFAULT 'not_contacted',
    hosts BIGINT NOT NULL DEFAULT 0,
    hosts_compromised BIGINT NOT NULL DEFAULT 0,
    hosts_vulnerable BIGINT NOT NULL DEFAULT 0,
    regressed BIGINT NOT NULL DEFAULT 0,
    last_seen TEXT,
    UNIQUE (name, managed)
);
-- Lists are worst first: ORDER BY tech_rank DESC, id walks this index (no sort of every row).
CREATE INDEX organisation_rank ON organisation (tech_rank DESC, id);
CREATE INDEX organisation_sector ON organisation (sector);
CREATE INDEX organisation_cc ON organisation (cc);

-- Which networks and ASNs belong to which organisation. Most specific network wins; at equal
-- specificity a manual mapping wins; an ASN mapping is the fallback.
CREATE TABLE org_network (
    id {{ID}},
    org_id BIGINT NOT NULL REFERENCES organisation(id),
    cidr TEXT NOT NULL,
    managed TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (cidr, managed)
);
CREATE INDEX org_network_org ON org_network (org_id);
CREATE TABLE org_asn (
    id {{ID}},
    org_id BIGINT NOT NULL REFERENCES organisation(id),
    asn BIGINT NOT NULL,
    managed TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (asn, managed)
);
CREATE INDEX org_asn_org ON org_asn (org_id);

-- How to reach an organisation. A manual contact wins over imported ones.
CREATE TABLE contact (
    id {{ID}},
    org_id BIGINT NOT NULL REFERENCES organisation(id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,               -- abuse | security | tech | executive
    name TEXT,
    phone TEXT,
    managed TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (org_id, email, managed)
);

-- IP ranges to ASNs from offline files (iptoasn TSV, start,end,asn CSV, MaxMind ASN MMDB).
-- start_key/end_key: 32 hex digits of the IPv6 (or IPv4-mapped) address, so text order = address order.
CREATE TABLE ip_asn (
    id {{ID}},
    start_key TEXT NOT NULL,
    end_key TEXT NOT NULL,
    asn BIGINT NOT NULL,
    as_name TEXT,
    cc TEXT,
    ingest_id BIGINT NOT NULL REFERENCES ingest(id)
);
CREATE INDEX ip_asn_start ON ip_asn (start_key);

-- One Exchange server, by address.
CREATE TABLE host (
    id {{ID}},
    ip TEXT NOT NULL UNIQUE,
    org_id BIGINT REFERENCES organisation(id),
    org_via TEXT,                     -- network:<cidr> | asn:<n> | NULL
    asn BIGINT,                       -- our enrichment, else the feed's
    asn_source TEXT,                  -- 'ingest:<id>' of the mapping, or 'feed'
    cc TEXT,
    hostname TEXT,
    servername TEXT,
    version TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    tech_state TEXT NOT NULL,
    tech_rank BIGINT NOT NULL,
    state_at TEXT NOT NULL,           -- time of the last state event (events never go back in time)
    regressed BIGINT NOT NULL DEFAULT 0,
    compromised_ever BIGINT NOT NULL DEFAULT 0,
    fixed_at TEXT,                    -- when it was last patched or remediated
    clean_hunt_at TEXT,               -- last clean hunt report
    clean_probe_at TEXT               -- last probe showing a fixed build
);
CREATE INDEX host_org ON host (org_id, tech_rank DESC, id);
CREATE INDEX host_state ON host (tech_rank DESC, id);
CREATE INDEX host_asn ON host (asn);
CREATE INDEX host_servername ON host (servername);

-- Immutable facts, one per input row (or probe result, hunt report, analyst record).
-- natural_key de-duplicates across files: feed rows by (feed, ip, port, tags, day).
CREATE TABLE observation (
    id {{ID}},
    ingest_id BIGINT REFERENCES ingest(id),
    line BIGINT,
    host_id BIGINT NOT NULL REFERENCES host(id),
    kind TEXT NOT NULL,               -- shadowserver | intelmq | probe | hunt | analyst
    natural_key TEXT NOT NULL UNIQUE,
    observed_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    signals TEXT NOT NULL,            -- comma-separated state::Signal names, applied in order
    port BIGINT,
    tags TEXT,
    version TEXT,
    url TEXT,
    asn_reported BIGINT,
    cc_reported TEXT,
    detail TEXT NOT NULL              -- the source row as JSON (feed columns, probe or hunt summary)
);
CREATE INDEX observation_host ON observation (host_id, id);

-- What is wrong with a host, aggregated: first and last seen and how often.
CREATE TABLE finding (
    id {{ID}},
    host_id BIGINT NOT NULL REFERENCES host(id),
    kind TEXT NOT NULL,               -- vulnerable:cve-2021-26855 | webshell:<path> | hunt:<rule> | build:<family>
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    count BIGINT NOT NULL,
    last_observation_id BIGINT NOT NULL,
    UNIQUE (host_id, kind)
);

-- Every change of state on either axis, with its source: the state on any date is the last event
-- at or before it.
CREATE TABLE state_event (
    id {{ID}},
    host_id BIGINT REFERENCES host(id),
    org_id BIGINT REFERENCES organisation(id),
    axis TEXT NOT NULL,               -- technical | communication
    from_state TEXT,
    to_state TEXT NOT NULL,
    at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    observation_id BIGINT REFERENCES observation(id),
    source TEXT NOT NULL,             -- 'shadowserver:<file>#<line>', 'probe:<file>#<line>', 'analyst:<name>'
    regressed BIGINT NOT NULL DEFAULT 0,
    reason TEXT NOT NULL
);
CREATE INDEX state_event_host ON state_event (host_id, at);
CREATE INDEX state_event_org ON state_event (org_id, axis, at);

-- API tokens (only their SHA-256 is stored).
CREATE TABLE api_token (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,               -- admin | analyst | reporter
    org_id BIGINT REFERENCES organisation(id),
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Every change made through the API: who, what, before and after.
CREATE TABLE audit_log (
    id {{ID}},
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    before_json TEXT,
    after_json TEXT
);
