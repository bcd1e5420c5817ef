-- Satisfaction recorded per handoff: every ended leg and ended top-level request (a survey subject,
-- with what was true of it when it ended and whether it invites a survey), the responses (which
-- name no citizen), early warnings with their state, and the at-risk backlog samples warnings
-- compare.

CREATE TABLE survey_subjects (
    -- The invitation id (`citizens/{citizen}/surveyInvitations/{id}`).
    id                  TEXT    NOT NULL PRIMARY KEY,
    citizen_id          TEXT    NOT NULL REFERENCES citizens (id),
    request_id          TEXT    NOT NULL REFERENCES requests (id),
    -- The leg's number; 0 for the request itself.
    handoff_number      BIGINT  NOT NULL,
    -- `handoff` or `request`.
    kind                TEXT    NOT NULL,
    -- How it ended: a leg state code or a request status code.
    ended_as            TEXT    NOT NULL,
    -- Whether it invites a survey (completed or declined legs, completed requests).
    invited             BOOLEAN NOT NULL,
    -- The rated agency, and '' where a part is not known.
    agency              TEXT    NOT NULL,
    team                TEXT    NOT NULL,
    officer             TEXT    NOT NULL,
    service_id          TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    from_agency         TEXT    NOT NULL,
    -- The request's entry agency ('' for a portal): it may record phone surveys too.
    entry_agency        TEXT    NOT NULL,
    -- `met`, `missed` or '' (no standard, or not completed).
    standard            TEXT    NOT NULL,
    -- The calendar quarter it ended in (`2026Q3`).
    quarter             TEXT    NOT NULL,
    ended_at_unix_ms    BIGINT  NOT NULL,
    expires_at_unix_ms  BIGINT  NOT NULL,
    responded           BOOLEAN NOT NULL,
    UNIQUE (request_id, handoff_number)
);

CREATE INDEX survey_subjects_by_citizen ON survey_subjects (citizen_id, ended_at_unix_ms);
CREATE INDEX survey_subjects_by_agency ON survey_subjects (agency, quarter);

-- Responses. No column names the citizen or the subject: `respondent_key` is a keyed hash of the
-- subject and the respondent, unique so that each answers once.
CREATE TABLE survey_responses (
    id                  TEXT    NOT NULL PRIMARY KEY,
    respondent_key      BLOB    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL,
    agency              TEXT    NOT NULL,
    team                TEXT    NOT NULL,
    officer             TEXT    NOT NULL,
    service_id          TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    from_agency         TEXT    NOT NULL,
    standard            TEXT    NOT NULL,
    quarter             TEXT    NOT NULL,
    -- The segment, each '' where not known.
    age_band            TEXT    NOT NULL,
    province            TEXT    NOT NULL,
    language            TEXT    NOT NULL,
    accessibility       TEXT    NOT NULL,
    client_group        TEXT    NOT NULL,
    survey_channel      TEXT    NOT NULL,
    -- 0: not said.
    contacts            BIGINT  NOT NULL,
    -- Scores 1-5, 0 where not answered.
    satisfaction        BIGINT  NOT NULL,
    trust               BIGINT  NOT NULL,
    effectiveness       BIGINT  NOT NULL,
    ease                BIGINT  NOT NULL,
    efficiency          BIGINT  NOT NULL,
    transparency        BIGINT  NOT NULL,
    employees           BIGINT  NOT NULL,
    value               BIGINT  NOT NULL,
    -- The comment, sealed like identifiers; NULL when none.
    comment_key_id      TEXT,
    comment_nonce       BLOB,
    comment_ciphertext  BLOB,
    -- The day it was recorded (UTC midnight), not the instant.
    recorded_on_unix_ms BIGINT  NOT NULL
);

CREATE INDEX survey_responses_by_agency ON survey_responses (agency, quarter);
CREATE INDEX survey_responses_by_pair ON survey_responses (from_agency, agency);

-- Early warnings, one per (kind, subject, period), with their state.
CREATE TABLE early_warnings (
    id                  TEXT    NOT NULL PRIMARY KEY,
    -- `score-drop`, `standard-below-target`, `decline-rate` or `at-risk-backlog`.
    kind                TEXT    NOT NULL,
    -- The agency that owns the warning (the to-agency of a pair).
    agency              TEXT    NOT NULL,
    -- What it is about: a service id, a from-agency, a driver code... ('' where none).
    service_id          TEXT    NOT NULL,
    from_agency         TEXT    NOT NULL,
    standard_id         TEXT    NOT NULL,
    driver              TEXT    NOT NULL,
    -- The period compared (`2026Q3`, or a day `2026-11-30` for backlogs).
    period              TEXT    NOT NULL,
    -- The figures: the value now, the value it is compared with, the threshold, the responses
    -- or legs behind them, and the test's p-value (NULL where no test applies).
    current_value       REAL NOT NULL,
    baseline_value      REAL NOT NULL,
    threshold           REAL NOT NULL,
    current_count       BIGINT  NOT NULL,
    baseline_count      BIGINT  NOT NULL,
    p_value             REAL,
    -- `open`, `acknowledged` or `resolved`.
    state               TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    acknowledged_by     TEXT    NOT NULL,
    acknowledged_at_unix_ms BIGINT,
    raised_at_unix_ms   BIGINT  NOT NULL,
    updated_at_unix_ms  BIGINT  NOT NULL,
    resolved_at_unix_ms BIGINT,
    version             BIGINT  NOT NULL,
    UNIQUE (kind, agency, service_id, from_agency, standard_id, driver, period)
);

CREATE INDEX early_warnings_by_agency ON early_warnings (agency, state);

-- The at-risk backlog of each agency as the warnings job sampled it.
CREATE TABLE backlog_samples (
    agency              TEXT    NOT NULL,
    -- The local day sampled (`2026-11-30`).
    day                 TEXT    NOT NULL,
    at_risk             BIGINT  NOT NULL,
    breached            BIGINT  NOT NULL,
    open_legs           BIGINT  NOT NULL,
    sampled_at_unix_ms  BIGINT  NOT NULL,
    PRIMARY KEY (agency, day)
);
