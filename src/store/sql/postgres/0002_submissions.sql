-- wardgate schema 2: submissions with idempotency keys, the outbox, the audit chain.
-- Residents appear only as keyed pseudonyms (`subject`); no column holds a citizen ID number.

CREATE TABLE submissions (
    dossier_code     TEXT     NOT NULL PRIMARY KEY,
    -- HMAC pseudonym of the resident, never the provider's subject or an ID number.
    subject          TEXT     NOT NULL,
    idempotency_key  TEXT     NOT NULL,
    procedure        TEXT     NOT NULL,
    ward             TEXT     NOT NULL,
    -- The dossier, JSON text (personal data: never logged).
    dossier          TEXT     NOT NULL,
    -- SHA-256 of the canonical JSON of the dossier, hex.
    payload_digest   TEXT     NOT NULL,
    level            BIGINT   NOT NULL,
    assurance_source TEXT     NOT NULL,
    created_ns       BIGINT   NOT NULL,
    receipt          TEXT     NOT NULL,
    CONSTRAINT submissions_subject_key UNIQUE (subject, idempotency_key)
);

CREATE TABLE outbox (
    dossier_code    TEXT   NOT NULL PRIMARY KEY,
    -- The signed hand-off envelope (carries the dossier: never logged).
    envelope        TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'delivered', 'parked')),
    created_ns      BIGINT NOT NULL,
    next_attempt_ns BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    last_error      TEXT,
    delivered_ns    BIGINT
);

CREATE INDEX outbox_due ON outbox (next_attempt_ns, dossier_code) WHERE status = 'pending';
CREATE INDEX outbox_delivered ON outbox (delivered_ns) WHERE status = 'delivered';

-- Append-only, hash-chained: seq from 1 without gaps, hash = chain_hash(prev_hash, seq, entry).
CREATE TABLE audit (
    seq       BIGINT NOT NULL PRIMARY KEY,
    at_ns     BIGINT NOT NULL,
    subject   TEXT,
    -- The event's ward, for statistics; the event JSON is authoritative.
    ward      TEXT,
    event     TEXT   NOT NULL,
    prev_hash TEXT   NOT NULL,
    hash      TEXT   NOT NULL
);

CREATE INDEX audit_at ON audit (at_ns);
CREATE INDEX audit_ward_at ON audit (ward, at_ns);

-- The chain's head, one row: appending locks it (SELECT ... FOR UPDATE), so instances sharing
-- the database append one after the other and the chain never forks.
CREATE TABLE audit_head (
    id   SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT   NOT NULL,
    hash TEXT     NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION wardgate_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION wardgate_audit_append_only();
