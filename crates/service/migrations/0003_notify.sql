-- Notifications (crates/notify): tickets, the outbox, bounces; token expiry; contact language.

-- Reporter tokens handed out in notifications expire; NULL = never (tokens made by `taskforce token`).
ALTER TABLE api_token ADD COLUMN expires_at TEXT;

-- The language a contact is written in (`en`, `de`); NULL = by the organisation's country.
ALTER TABLE contact ADD COLUMN lang TEXT;

-- One notification of one organisation for one campaign: what it said and about which hosts.
-- A ticket keeps its number when it moves to the next contact after a permanent refusal.
CREATE TABLE notify_ticket (
    id {{ID}},
    ticket TEXT NOT NULL UNIQUE,      -- TF-YYYYMMDD-NNNNNN
    org_id BIGINT NOT NULL REFERENCES organisation(id),
    campaign TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reason TEXT NOT NULL,             -- first | reminder | escalation
    worst_state TEXT,
    hosts_json TEXT NOT NULL,         -- [{host_id, ip, state, regressed}]: the situation told, for escalation checks
    summary_json TEXT NOT NULL,       -- what the message said (hosts, findings, steps), for the ticket's page
    token_id BIGINT REFERENCES api_token(id),
    token_expires_at TEXT,
    status TEXT NOT NULL DEFAULT 'open',  -- open | acknowledged | unreachable
    acknowledged_at TEXT,
    acknowledged_by TEXT
);
CREATE INDEX notify_ticket_org ON notify_ticket (org_id, id);

-- Every message to send or sent: planned -> sending -> sent | deferred | failed. The message is
-- rendered and stored with its Message-ID before the SMTP transaction, so a restart re-sends the
-- same bytes.
CREATE TABLE notify_outbox (
    id {{ID}},
    ticket_id BIGINT NOT NULL REFERENCES notify_ticket(id),
    org_id BIGINT NOT NULL REFERENCES organisation(id),
    recipient TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,     -- manual | abuse | contact | network | asn | intermediary
    via TEXT,                         -- for network/asn/intermediary: whose contact it is
    lang TEXT NOT NULL,
    status TEXT NOT NULL,             -- planned | sending | sent | deferred | failed
    message_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,            -- the whole RFC 5322 message as sent
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX notify_outbox_status ON notify_outbox (status, next_attempt_at);
CREATE INDEX notify_outbox_org ON notify_outbox (org_id, status);

-- Addresses that refused mail permanently (a 5xx answer or a delivery status notification):
-- skipped when choosing a recipient.
CREATE TABLE notify_bounce (
    id {{ID}},
    email TEXT NOT NULL UNIQUE,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    count BIGINT NOT NULL,
    source TEXT NOT NULL,             -- smtp | dsn:<file>
    reason TEXT NOT NULL
);
