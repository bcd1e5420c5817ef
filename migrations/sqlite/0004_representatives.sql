-- Representatives: a citizen whom another citizen (or an agency, on documents such as a power of
-- attorney or letters of probate) authorises to act for them through a portal, within a scope:
-- the categories they may read and change, and whether they may manage consents. In force on
-- [valid_from, valid_until) until revoked. Times are Unix milliseconds.

CREATE TABLE representations (
    citizen_id          TEXT    NOT NULL REFERENCES citizens (id),
    id                  TEXT    NOT NULL,
    representative_id   TEXT    NOT NULL REFERENCES citizens (id),
    -- `parent`, `power-of-attorney` or `executor`.
    kind                TEXT    NOT NULL,
    -- Space-separated category codes.
    categories          TEXT    NOT NULL,
    manage_consents     BOOLEAN NOT NULL,
    valid_from_unix_ms  BIGINT  NOT NULL,
    valid_until_unix_ms BIGINT,
    recorded_by         TEXT    NOT NULL,
    officer             TEXT    NOT NULL,
    created_at_unix_ms  BIGINT  NOT NULL,
    revoked_at_unix_ms  BIGINT,
    revoked_by          TEXT    NOT NULL,
    PRIMARY KEY (citizen_id, id)
);

CREATE INDEX representations_by_representative ON representations (representative_id, citizen_id);
