-- wardgate schema 1: bookings, drafts and tickets.
-- Times are nanoseconds since the Unix epoch (UTC). No column holds a citizen ID number.

CREATE TABLE bookings (
    id            TEXT    NOT NULL PRIMARY KEY,
    ward          TEXT    NOT NULL,
    point         TEXT    NOT NULL,
    slot_start_ns INTEGER NOT NULL,
    procedure     TEXT    NOT NULL,
    ticket        TEXT,
    created_ns    INTEGER NOT NULL,
    cancelled_ns  INTEGER
) STRICT;

-- Seats taken and the staff list: active bookings by ward, start and point.
CREATE INDEX bookings_active_slot
    ON bookings (ward, slot_start_ns, point) WHERE cancelled_ns IS NULL;
-- A ticket holds at most one active booking.
CREATE UNIQUE INDEX bookings_active_ticket
    ON bookings (ticket) WHERE ticket IS NOT NULL AND cancelled_ns IS NULL;
-- Retention.
CREATE INDEX bookings_slot_start ON bookings (slot_start_ns);

CREATE TABLE drafts (
    id         TEXT    NOT NULL PRIMARY KEY,
    procedure  TEXT    NOT NULL,
    ward       TEXT,
    -- The dossier so far, JSON (personal data: never logged).
    data       TEXT    NOT NULL,
    saved_ns   INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
) STRICT;

CREATE INDEX drafts_expires ON drafts (expires_ns);

CREATE TABLE tickets (
    code            TEXT    NOT NULL PRIMARY KEY,
    procedure       TEXT    NOT NULL,
    ward            TEXT    NOT NULL,
    reception_point TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    draft           TEXT,
    issued_ns       INTEGER NOT NULL,
    expires_ns      INTEGER NOT NULL
) STRICT;

CREATE INDEX tickets_expires ON tickets (expires_ns);
