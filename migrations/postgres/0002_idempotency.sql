-- Idempotent writes: the answer of every call made with a `request_id`, so that a retry by the
-- same caller of the same method with the same `request_id` gets the original answer and changes
-- nothing again; the same `request_id` with another request is refused. Kept for a retention
-- period, then forgotten.

CREATE TABLE idempotent_requests (
    caller              TEXT    NOT NULL,
    method              TEXT    NOT NULL,
    request_id          TEXT    NOT NULL,
    request_sha256      BYTEA   NOT NULL,
    response            BYTEA   NOT NULL,
    created_at_unix_ms  BIGINT  NOT NULL,
    PRIMARY KEY (caller, method, request_id)
);

CREATE INDEX idempotent_requests_by_age ON idempotent_requests (created_at_unix_ms);
