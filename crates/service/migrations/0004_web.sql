-- The web dashboard's people and sessions (crates/web).

-- People who log in with a password (argon2id PHC string; never the password itself).
CREATE TABLE web_user (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,               -- admin | analyst | reporter
    org_id BIGINT REFERENCES organisation(id),
    created_at TEXT NOT NULL,
    disabled_at TEXT
);

-- Server-side sessions: the cookie holds a random id, only its SHA-256 is stored. A session is
-- opened by a user's password or by a reporter's API token (the self-service link).
CREATE TABLE web_session (
    id {{ID}},
    id_sha256 TEXT NOT NULL UNIQUE,
    user_id BIGINT REFERENCES web_user(id),
    token_id BIGINT REFERENCES api_token(id),
    csrf_token TEXT NOT NULL,         -- echoed in every form, checked on every POST
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_session_expiry ON web_session (expires_at);
