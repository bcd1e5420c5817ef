-- Requests (a citizen's case opened at any door), their legs (handoffs between agencies, each with
-- a clock against its service's published standard), the ranking stored when a request was
-- opened, and the outbox of assignment events that streams read from durable positions.

CREATE TABLE requests (
    id                  TEXT    NOT NULL PRIMARY KEY,
    citizen_id          TEXT    NOT NULL REFERENCES citizens (id),
    -- The life-event parent of a child request.
    parent_id           TEXT    REFERENCES requests (id),
    -- `text`, `service` or `life-event`, and the text or id.
    need_kind           TEXT    NOT NULL,
    need                TEXT    NOT NULL,
    entry_agency        TEXT,
    -- A channel code.
    entry_channel       TEXT    NOT NULL,
    opened_by           TEXT    NOT NULL,
    officer             TEXT    NOT NULL,
    note                TEXT    NOT NULL,
    -- Space-separated category codes the legs carry.
    shared_categories   TEXT    NOT NULL,
    -- Where the citizen lives, as routing knew it (`in-canada`, `abroad`), for onward hand-to.
    residence           TEXT,
    owner_agency        TEXT    NOT NULL,
    -- Where an exhausted ranking escalates: the entry agency, or for a portal the owner of the
    -- first candidate.
    escalation_agency   TEXT    NOT NULL,
    -- Set by a withdrawal.
    withdrawn           BOOLEAN NOT NULL,
    -- `open`, `completed`, `withdrawn` or `abandoned`.
    status              TEXT    NOT NULL,
    needs_attention     BOOLEAN NOT NULL,
    -- The end-to-end clock's standard (the current primary leg's) and its due time before pauses.
    standard_id         TEXT,
    due_base_unix_ms    BIGINT,
    version             BIGINT  NOT NULL,
    created_at_unix_ms  BIGINT  NOT NULL,
    updated_at_unix_ms  BIGINT  NOT NULL,
    ended_at_unix_ms    BIGINT
);

CREATE INDEX requests_by_citizen ON requests (citizen_id, id);
CREATE INDEX requests_by_entry_agency ON requests (entry_agency, id);
CREATE INDEX requests_by_parent ON requests (parent_id);

-- The ranking stored when the request was opened: re-routing after a decline follows it.
CREATE TABLE request_candidates (
    request_id          TEXT    NOT NULL REFERENCES requests (id),
    rank                BIGINT  NOT NULL,
    service_id          TEXT    NOT NULL,
    agency              TEXT    NOT NULL,
    score               DOUBLE PRECISION NOT NULL,
    -- `met`, `unknown`, `failed`, or NULL without structured rules.
    eligibility         TEXT,
    PRIMARY KEY (request_id, rank)
);

-- Services of a life event that were not opened, with the reason.
CREATE TABLE request_not_opened (
    request_id          TEXT    NOT NULL REFERENCES requests (id),
    service_id          TEXT    NOT NULL,
    reason_en           TEXT    NOT NULL,
    reason_fr           TEXT    NOT NULL,
    PRIMARY KEY (request_id, service_id)
);

CREATE TABLE request_attachments (
    request_id          TEXT    NOT NULL REFERENCES requests (id),
    number              BIGINT  NOT NULL,
    filename            TEXT    NOT NULL,
    media_type          TEXT    NOT NULL,
    sha256              TEXT    NOT NULL,
    content             BYTEA   NOT NULL,
    PRIMARY KEY (request_id, number)
);

-- A leg: one agency's part of a request.
CREATE TABLE handoffs (
    request_id          TEXT    NOT NULL REFERENCES requests (id),
    -- 1, 2, 3... in order of offer within the request.
    number              BIGINT  NOT NULL,
    from_agency         TEXT,
    to_agency           TEXT    NOT NULL,
    service_id          TEXT    NOT NULL,
    -- `direct`, `wrong-door`, `referral`, `delivery-partner`, `life-event` or `escalation`.
    reason              TEXT    NOT NULL,
    -- A leg state code (`offered`...).
    state               TEXT    NOT NULL,
    is_primary          BOOLEAN NOT NULL,
    referred_from       BIGINT,
    note                TEXT    NOT NULL,
    shared_categories   TEXT    NOT NULL,
    decline_reason      TEXT,
    outcome             TEXT,
    needs_attention     BOOLEAN NOT NULL,
    -- The standard the clock runs against, fixed at the offer, and the due time before pauses.
    standard_id         TEXT,
    due_base_unix_ms    BIGINT,
    time_zone           TEXT    NOT NULL,
    offered_at_unix_ms  BIGINT  NOT NULL,
    paused_since_unix_ms BIGINT,
    paused_ms           BIGINT  NOT NULL,
    ended_at_unix_ms    BIGINT,
    last_at_unix_ms     BIGINT  NOT NULL,
    version             BIGINT  NOT NULL,
    PRIMARY KEY (request_id, number)
);

CREATE INDEX handoffs_by_agency ON handoffs (to_agency, state);
CREATE INDEX handoffs_waiting ON handoffs (paused_since_unix_ms) WHERE paused_since_unix_ms IS NOT NULL;
CREATE INDEX handoffs_by_standard ON handoffs (service_id, standard_id) WHERE ended_at_unix_ms IS NOT NULL;

-- Every step of a leg, the offer first.
CREATE TABLE handoff_steps (
    request_id          TEXT    NOT NULL,
    number              BIGINT  NOT NULL,
    seq                 BIGINT  NOT NULL,
    state               TEXT    NOT NULL,
    at_unix_ms          BIGINT  NOT NULL,
    actor               TEXT    NOT NULL,
    officer             TEXT    NOT NULL,
    text                TEXT    NOT NULL,
    PRIMARY KEY (request_id, number, seq),
    FOREIGN KEY (request_id, number) REFERENCES handoffs (request_id, number)
);

-- The outbox: one event per agency to tell, written in the transaction of the change without a
-- position; the sequencer positions events after they commit, so a reader resuming after a
-- position never skips an event that committed late.
CREATE TABLE request_events (
    id                  TEXT    NOT NULL PRIMARY KEY,
    agency              TEXT    NOT NULL,
    request_id          TEXT    NOT NULL,
    handoff_number      BIGINT  NOT NULL,
    -- `offered` (a leg offered to the agency) or `changed` (a request it owns changed).
    kind                TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    at_unix_ms          BIGINT  NOT NULL,
    position            BIGINT  UNIQUE
);

CREATE INDEX request_events_by_agency ON request_events (agency, position);
CREATE INDEX request_events_unsequenced ON request_events (at_unix_ms) WHERE position IS NULL;
