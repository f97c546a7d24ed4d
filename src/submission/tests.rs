//! Submission, receipt and outbox tests.
