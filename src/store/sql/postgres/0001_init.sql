-- wardgate schema 1: bookings, drafts and tickets.
-- Times are nanoseconds since the Unix epoch (UTC). No column holds a citizen ID number.

-- One row per slot ever booked: a booking locks its slot's row (SELECT ... FOR UPDATE) so that
-- counting the seats and inserting the booking cannot interleave with another booking.
CREATE TABLE slots (
    ward     TEXT   NOT NULL,
    point    TEXT   NOT NULL,
    start_ns BIGINT NOT NULL,
    PRIMARY KEY (ward, point, start_ns)
);

CREATE INDEX slots_start ON slots (start_ns);

CREATE TABLE bookings (
    id            TEXT   NOT NULL PRIMARY KEY,
    ward          TEXT   NOT NULL,
    point         TEXT   NOT NULL,
    slot_start_ns BIGINT NOT NULL,
    procedure     TEXT   NOT NULL,
    ticket        TEXT,
    created_ns    BIGINT NOT NULL,
    cancelled_ns  BIGINT
);

-- Seats taken and the staff list: active bookings by ward, start and point.
CREATE INDEX bookings_active_slot
    ON bookings (ward, slot_start_ns, point) WHERE cancelled_ns IS NULL;
-- A ticket holds at most one active booking.
CREATE UNIQUE INDEX bookings_active_ticket
    ON bookings (ticket) WHERE ticket IS NOT NULL AND cancelled_ns IS NULL;
-- Retention.
CREATE INDEX bookings_slot_start ON bookings (slot_start_ns);

CREATE TABLE drafts (
    id         TEXT   NOT NULL PRIMARY KEY,
    procedure  TEXT   NOT NULL,
    ward       TEXT,
    -- The dossier so far, JSON text (personal data: never logged).
    data       TEXT   NOT NULL,
    saved_ns   BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL
);

CREATE INDEX drafts_expires ON drafts (expires_ns);

CREATE TABLE tickets (
    code            TEXT   NOT NULL PRIMARY KEY,
    procedure       TEXT   NOT NULL,
    ward            TEXT   NOT NULL,
    reception_point TEXT   NOT NULL,
    reason          TEXT   NOT NULL,
    draft           TEXT,
    issued_ns       BIGINT NOT NULL,
    expires_ns      BIGINT NOT NULL
);

CREATE INDEX tickets_expires ON tickets (expires_ns);
