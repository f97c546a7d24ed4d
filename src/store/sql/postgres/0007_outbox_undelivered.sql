-- wardgate schema 7: the entries of the outbox not yet delivered, by status and queuing time.
-- /metrics reads the pending and parked counts and the oldest pending entry at every scrape;
-- without this index that is a scan of the whole outbox, delivered entries and their envelopes
-- included, kept until the retention purge. Delivered entries are left out of the index.

CREATE INDEX outbox_undelivered
    ON outbox (status, created_ns)
    WHERE status <> 'delivered';
