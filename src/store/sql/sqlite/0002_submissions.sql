-- wardgate schema 2: submissions with idempotency keys, the outbox, the audit chain.
-- Residents appear only as keyed pseudonyms (`subject`); no column holds a citizen ID number.

CREATE TABLE submissions (
    dossier_code     TEXT    NOT NULL PRIMARY KEY,
    -- HMAC pseudonym of the resident, never the provider's subject or an ID number.
    subject          TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    procedure        TEXT    NOT NULL,
    ward             TEXT    NOT NULL,
    -- The dossier, JSON (personal data: never logged).
    dossier          TEXT    NOT NULL,
    -- SHA-256 of the canonical JSON of the dossier, hex.
    payload_digest   TEXT    NOT NULL,
    level            INTEGER NOT NULL,
    assurance_source TEXT    NOT NULL,
    created_ns       INTEGER NOT NULL,
    receipt          TEXT    NOT NULL,
    UNIQUE (subject, idempotency_key)
) STRICT;

CREATE TABLE outbox (
    dossier_code    TEXT    NOT NULL PRIMARY KEY,
    -- The signed hand-off envelope (carries the dossier: never logged).
    envelope        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'parked')),
    created_ns      INTEGER NOT NULL,
    next_attempt_ns INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    delivered_ns    INTEGER
) STRICT;

CREATE INDEX outbox_due ON outbox (next_attempt_ns, dossier_code) WHERE status = 'pending';
CREATE INDEX outbox_delivered ON outbox (delivered_ns) WHERE status = 'delivered';

-- Append-only, hash-chained: seq from 1 without gaps, hash = chain_hash(prev_hash, seq, entry).
CREATE TABLE audit (
    seq       INTEGER NOT NULL PRIMARY KEY,
    at_ns     INTEGER NOT NULL,
    subject   TEXT,
    -- The event's ward, for statistics; the event JSON is authoritative.
    ward      TEXT,
    event     TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_at ON audit (at_ns);
CREATE INDEX audit_ward_at ON audit (ward, at_ns);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
