-- wardgate schema 6: a signed-in resident's open ticket, by owner and procedure.
-- The procedure page finds the ticket a resident took signed in when their browser no longer
-- holds it (after signing out, or on another device). Tickets taken signed out (no owner) are
-- left out of the index.

CREATE INDEX tickets_owner_procedure
    ON tickets (owner, procedure, issued_ns)
    WHERE owner IS NOT NULL;
