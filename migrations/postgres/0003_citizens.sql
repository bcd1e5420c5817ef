-- The shared citizen record, consent, identity links, the access log and change notices.
-- Identifiers are never stored in clear: each is sealed (AEAD, bound to its citizen and scheme) with
-- the key `key_id` names, and found by its keyed blind index. Times are Unix milliseconds.

CREATE TABLE citizens (
    id                  TEXT    PRIMARY KEY,
    given_name          TEXT    NOT NULL,
    family_name         TEXT    NOT NULL,
    preferred_name      TEXT    NOT NULL,
    -- Case, accents and punctuation folded, for matching.
    given_name_folded   TEXT    NOT NULL,
    family_name_folded  TEXT    NOT NULL,
    -- `YYYY-MM-DD`, or empty when not known.
    date_of_birth       TEXT    NOT NULL,
    deceased_date       TEXT    NOT NULL,
    email               TEXT    NOT NULL,
    phone               TEXT    NOT NULL,
    -- `en`, `fr` or empty.
    language            TEXT    NOT NULL,
    -- A channel code (`online`, `telephone`...) or empty.
    preferred_channel   TEXT    NOT NULL,
    -- Space-separated codes (`screen-reader large-print`).
    accessibility_needs TEXT    NOT NULL,
    accessibility_note  TEXT    NOT NULL,
    -- Space-separated codes (`veteran student`).
    circumstances       TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    created_at_unix_ms  BIGINT  NOT NULL,
    updated_at_unix_ms  BIGINT  NOT NULL
);

CREATE INDEX citizens_by_family_name ON citizens (family_name_folded);
CREATE INDEX citizens_by_date_of_birth ON citizens (date_of_birth);

CREATE TABLE citizen_addresses (
    citizen_id   TEXT    NOT NULL REFERENCES citizens (id),
    position     BIGINT  NOT NULL,
    -- `residential` or `mailing`.
    kind         TEXT    NOT NULL,
    line1        TEXT    NOT NULL,
    line2        TEXT    NOT NULL,
    city         TEXT    NOT NULL,
    province     TEXT    NOT NULL,
    postal_code  TEXT    NOT NULL,
    PRIMARY KEY (citizen_id, position)
);

CREATE INDEX citizen_addresses_by_postal_code ON citizen_addresses (postal_code);

CREATE TABLE citizen_identifiers (
    citizen_id   TEXT    NOT NULL REFERENCES citizens (id),
    -- `sin`, `passport`, or `health-card:ON` (with the province).
    scheme       TEXT    NOT NULL,
    position     BIGINT  NOT NULL,
    blind_index  BYTEA   NOT NULL UNIQUE,
    key_id       TEXT    NOT NULL,
    nonce        BYTEA   NOT NULL,
    ciphertext   BYTEA   NOT NULL,
    PRIMARY KEY (citizen_id, scheme)
);

-- Which citizen an identity provider's subject is.
CREATE TABLE identity_links (
    issuer              TEXT    NOT NULL,
    subject             TEXT    NOT NULL,
    citizen_id          TEXT    NOT NULL REFERENCES citizens (id),
    created_at_unix_ms  BIGINT  NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX identity_links_by_citizen ON identity_links (citizen_id);

-- One-time codes with which a citizen claims, through a portal, a record an agency created. Only
-- the code's SHA-256 is kept.
CREATE TABLE identity_claims (
    code_sha256         BYTEA   PRIMARY KEY,
    citizen_id          TEXT    NOT NULL REFERENCES citizens (id),
    issued_by           TEXT    NOT NULL,
    expires_at_unix_ms  BIGINT  NOT NULL,
    claimed_at_unix_ms  BIGINT
);

CREATE TABLE consents (
    citizen_id          TEXT    NOT NULL REFERENCES citizens (id),
    id                  TEXT    NOT NULL,
    -- Order of creation within the citizen.
    number              BIGINT  NOT NULL,
    grantee             TEXT    NOT NULL,
    -- A purpose code (`service-delivery`...).
    purpose             TEXT    NOT NULL,
    -- Space-separated category codes.
    categories          TEXT    NOT NULL,
    valid_from_unix_ms  BIGINT  NOT NULL,
    valid_until_unix_ms BIGINT,
    channel             TEXT    NOT NULL,
    recorded_by         TEXT    NOT NULL,
    officer             TEXT    NOT NULL,
    created_at_unix_ms  BIGINT  NOT NULL,
    revoked_at_unix_ms  BIGINT,
    revoked_by          TEXT    NOT NULL,
    PRIMARY KEY (citizen_id, id),
    UNIQUE (citizen_id, number)
);

CREATE INDEX consents_by_grantee ON consents (citizen_id, grantee, purpose);

-- Every access to a citizen's data, allowed or denied, written by the call it records. The
-- sequencer later numbers each citizen's events 1, 2, 3... (`number`) and gives each its place in
-- the log's Merkle tree (`leaf_index`), in one order, after they committed.
CREATE TABLE access_events (
    id              TEXT    PRIMARY KEY,
    citizen_id      TEXT    NOT NULL,
    number          BIGINT,
    leaf_index      BIGINT  UNIQUE,
    actor           TEXT    NOT NULL,
    officer         TEXT    NOT NULL,
    representative  TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    purpose         TEXT    NOT NULL,
    categories      TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    at_unix_ms      BIGINT  NOT NULL,
    request_id      TEXT    NOT NULL,
    UNIQUE (citizen_id, number)
);

CREATE INDEX access_events_unsequenced ON access_events (at_unix_ms) WHERE leaf_index IS NULL;

-- The Merkle tree's leaves, kept apart from the events they commit to: a changed event no longer
-- matches its leaf.
CREATE TABLE access_log_leaves (
    leaf_index  BIGINT  PRIMARY KEY,
    leaf_hash   BYTEA   NOT NULL
);

-- The tree's right edge (the roots of its perfect subtrees, largest first), so that a new
-- checkpoint needs no scan of the leaves.
CREATE TABLE access_log_frontier (
    id         BIGINT  PRIMARY KEY,
    tree_size  BIGINT  NOT NULL,
    roots      BYTEA   NOT NULL
);

-- Signed checkpoints (C2SP tlog-checkpoint notes) of the tree.
CREATE TABLE access_log_checkpoints (
    tree_size           BIGINT  PRIMARY KEY,
    root_hash           BYTEA   NOT NULL,
    note                TEXT    NOT NULL,
    created_at_unix_ms  BIGINT  NOT NULL
);

-- The service's own audit trail: denials that concern no existing citizen.
CREATE TABLE service_audit (
    id          TEXT    PRIMARY KEY,
    at_unix_ms  BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    officer     TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    request_id  TEXT    NOT NULL
);

CREATE INDEX service_audit_by_time ON service_audit (at_unix_ms);

-- Tell us once: a notice per agency with a live notify-of-changes consent. `position` is assigned
-- after commit by the sequencer, in order, so a reader resuming after a position never skips a
-- notice that committed late.
CREATE TABLE change_notices (
    id          TEXT    PRIMARY KEY,
    agency      TEXT    NOT NULL,
    citizen_id  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    at_unix_ms  BIGINT  NOT NULL,
    position    BIGINT  UNIQUE
);

CREATE INDEX change_notices_by_agency ON change_notices (agency, position);

-- The last position each sequencer gave, so that positions never go back, even after every
-- notice was forgotten.
CREATE TABLE sequencer_state (
    name      TEXT    PRIMARY KEY,
    position  BIGINT  NOT NULL
);
CREATE INDEX change_notices_unsequenced ON change_notices (at_unix_ms) WHERE position IS NULL;
