-- wardgate schema 4: look-ups by ticket code.
-- The counter reads a ticket's recorded outcomes by its code instead of paging through the
-- audit trail. (A ticket's active booking is found through `bookings_active_ticket`.)

CREATE INDEX audit_counter_ticket
    ON audit (((event::jsonb) ->> 'ticket'))
    WHERE ((event::jsonb) ->> 'kind') = 'counter';
