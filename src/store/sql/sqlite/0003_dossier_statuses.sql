-- wardgate schema 3: what the back office reports about a dossier after the hand-off.
-- A report carries a status only, never free text: nothing personal comes back through it.

CREATE TABLE dossier_statuses (
    -- The back office's id of the report: reports are idempotent by it.
    report_id    TEXT    NOT NULL PRIMARY KEY,
    dossier_code TEXT    NOT NULL REFERENCES submissions (dossier_code),
    status       TEXT    NOT NULL CHECK (status IN ('accepted', 'more_documents_needed', 'result_ready', 'done')),
    reported_ns  INTEGER NOT NULL
) STRICT;

CREATE INDEX dossier_statuses_by_dossier ON dossier_statuses (dossier_code, reported_ns);
