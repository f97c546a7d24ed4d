-- wardgate schema 5: the owner of a ticket taken signed in.
-- The subject pseudonym of the resident who took the ticket while signed in (never the
-- provider's raw subject or a citizen number); NULL for a ticket taken signed out, and for
-- every ticket stored before this version, whose code stays the only reference. Deleted with
-- the ticket when it expires.

ALTER TABLE tickets ADD COLUMN owner TEXT;
