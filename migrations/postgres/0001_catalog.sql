-- The catalogue: agencies, services, service standards and life events.
-- Each row keeps its key columns for lookups and the rest as a JSON document (`doc`), which the server
-- loads into an in-memory snapshot. Services and standards missing from a newer import are retired,
-- never deleted: requests refer to them.

CREATE TABLE catalog_state (
    id                  BIGINT  PRIMARY KEY CHECK (id = 1),
    generation          BIGINT  NOT NULL,
    content_hash        TEXT    NOT NULL,
    updated_at_unix_ms  BIGINT  NOT NULL
);

CREATE TABLE agencies (
    agency_id  TEXT PRIMARY KEY,
    doc        TEXT NOT NULL
);

CREATE TABLE services (
    service_id  TEXT    PRIMARY KEY,
    agency_id   TEXT    NOT NULL REFERENCES agencies (agency_id),
    retired     BOOLEAN NOT NULL DEFAULT FALSE,
    doc         TEXT    NOT NULL
);
CREATE INDEX services_agency_id ON services (agency_id);

CREATE TABLE service_standards (
    service_id   TEXT    NOT NULL REFERENCES services (service_id),
    standard_id  TEXT    NOT NULL,
    retired      BOOLEAN NOT NULL DEFAULT FALSE,
    doc          TEXT    NOT NULL,
    PRIMARY KEY (service_id, standard_id)
);

CREATE TABLE life_events (
    life_event_id  TEXT PRIMARY KEY,
    doc            TEXT NOT NULL
);
