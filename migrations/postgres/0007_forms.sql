-- Common forms: a form and its numbered versions (the newest may be a draft; published versions
-- never change), each version's fields, choices and condition clauses in explicit columns, the
-- services a form is linked to, and submissions with their answers (identifier and bank account
-- answers sealed, never in clear) and the write-backs they caused. Times are Unix milliseconds.

CREATE TABLE forms (
    id                  TEXT    NOT NULL PRIMARY KEY,
    -- The owning agency's id.
    owner               TEXT    NOT NULL,
    -- The newest version's number.
    latest_version      BIGINT  NOT NULL,
    -- The newest published (not retired) version's number; NULL while none is.
    latest_published    BIGINT,
    created_at_unix_ms  BIGINT  NOT NULL
);

CREATE INDEX forms_by_owner ON forms (owner, id);

CREATE TABLE form_versions (
    form_id             TEXT    NOT NULL REFERENCES forms (id),
    number              BIGINT  NOT NULL,
    -- `draft`, `published` or `retired`.
    state               TEXT    NOT NULL,
    -- For a retired version: the number of the version to use.
    replacement         BIGINT,
    -- Bumped by every change of the version (its etag).
    revision            BIGINT  NOT NULL,
    title_en            TEXT    NOT NULL,
    title_fr            TEXT    NOT NULL,
    description_en      TEXT    NOT NULL,
    description_fr      TEXT    NOT NULL,
    created_at_unix_ms  BIGINT  NOT NULL,
    updated_at_unix_ms  BIGINT  NOT NULL,
    published_at_unix_ms BIGINT,
    PRIMARY KEY (form_id, number)
);

CREATE TABLE form_fields (
    form_id             TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    -- Depth-first order in the version, from 0.
    ordinal             BIGINT  NOT NULL,
    -- The ordinal of the group it is in; NULL at the top.
    parent_ordinal      BIGINT,
    key                 TEXT    NOT NULL,
    -- A field type code (`short-text`, `group`...).
    kind                TEXT    NOT NULL,
    label_en            TEXT    NOT NULL,
    label_fr            TEXT    NOT NULL,
    help_en             TEXT    NOT NULL,
    help_fr             TEXT    NOT NULL,
    required            BOOLEAN NOT NULL,
    min_length          BIGINT,
    max_length          BIGINT,
    -- Decimal text.
    minimum             TEXT,
    maximum             TEXT,
    pattern             TEXT,
    -- Date bounds as written (`2026-01-01`, `today-18y`).
    earliest            TEXT,
    latest              TEXT,
    min_choices         BIGINT,
    max_choices         BIGINT,
    -- For identifier fields: `sin`, `health-card` or `passport`.
    scheme              TEXT,
    repeatable          BOOLEAN NOT NULL,
    max_items           BIGINT  NOT NULL,
    -- `all` or `any` when the field has that condition (its clauses in form_clauses); NULL otherwise.
    show_combine        TEXT,
    require_combine     TEXT,
    -- A record field path (`contact.email`) or NULL.
    prefill             TEXT,
    write_back          BOOLEAN NOT NULL,
    PRIMARY KEY (form_id, version, ordinal),
    FOREIGN KEY (form_id, version) REFERENCES form_versions (form_id, number)
);

CREATE TABLE form_choices (
    form_id             TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    ordinal             BIGINT  NOT NULL,
    position            BIGINT  NOT NULL,
    value               TEXT    NOT NULL,
    label_en            TEXT    NOT NULL,
    label_fr            TEXT    NOT NULL,
    PRIMARY KEY (form_id, version, ordinal, position),
    FOREIGN KEY (form_id, version, ordinal) REFERENCES form_fields (form_id, version, ordinal)
);

CREATE TABLE form_clauses (
    form_id             TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    ordinal             BIGINT  NOT NULL,
    -- `show` or `require`.
    role                TEXT    NOT NULL,
    position            BIGINT  NOT NULL,
    -- The key of the field tested.
    field               TEXT    NOT NULL,
    -- An operator code (`equals`, `in`...).
    operator            TEXT    NOT NULL,
    -- The values, one per line (values hold no line breaks).
    clause_values       TEXT    NOT NULL,
    PRIMARY KEY (form_id, version, ordinal, role, position),
    FOREIGN KEY (form_id, version, ordinal) REFERENCES form_fields (form_id, version, ordinal)
);

CREATE TABLE form_links (
    form_id             TEXT    NOT NULL REFERENCES forms (id),
    service_id          TEXT    NOT NULL,
    -- The agency that linked it (the owner, or one that adopted the form).
    agency              TEXT    NOT NULL,
    linked_at_unix_ms   BIGINT  NOT NULL,
    PRIMARY KEY (form_id, service_id)
);

CREATE INDEX form_links_by_service ON form_links (service_id, form_id);

CREATE TABLE form_submissions (
    id                  TEXT    NOT NULL PRIMARY KEY,
    form_id             TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    citizen_id          TEXT    NOT NULL REFERENCES citizens (id),
    service_id          TEXT    NOT NULL,
    -- The agency that owns the service.
    recipient           TEXT    NOT NULL,
    -- The submitter's principal name, and its agency ('' for a portal).
    submitted_by        TEXT    NOT NULL,
    submitter_agency    TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    -- The request it is attached to, or NULL.
    request_id          TEXT    REFERENCES requests (id),
    submitted_at_unix_ms BIGINT NOT NULL,
    FOREIGN KEY (form_id, version) REFERENCES form_versions (form_id, number)
);

CREATE INDEX form_submissions_by_form ON form_submissions (form_id, submitted_at_unix_ms, id);
CREATE INDEX form_submissions_by_citizen ON form_submissions (citizen_id, submitted_at_unix_ms);
CREATE INDEX form_submissions_by_recipient ON form_submissions (recipient, submitted_at_unix_ms);
CREATE INDEX form_submissions_by_submitter ON form_submissions (submitter_agency, submitted_at_unix_ms);
CREATE INDEX form_submissions_by_request ON form_submissions (request_id);

CREATE TABLE submission_answers (
    submission_id       TEXT    NOT NULL REFERENCES form_submissions (id),
    position            BIGINT  NOT NULL,
    -- The answer's path (`children[1].given_name`) and its field's ordinal in the version.
    path                TEXT    NOT NULL,
    ordinal             BIGINT  NOT NULL,
    -- The value's stored text; NULL when sealed.
    value               TEXT,
    -- For identifiers and bank accounts: the sealed value (AEAD, bound to the submission and
    -- path), the key that sealed it and the nonce.
    key_id              TEXT,
    nonce               BYTEA,
    ciphertext          BYTEA,
    PRIMARY KEY (submission_id, position)
);

CREATE TABLE submission_write_backs (
    submission_id       TEXT    NOT NULL REFERENCES form_submissions (id),
    position            BIGINT  NOT NULL,
    path                TEXT    NOT NULL,
    record_field        TEXT    NOT NULL,
    -- `written`, `unchanged` or `not-permitted`.
    outcome             TEXT    NOT NULL,
    PRIMARY KEY (submission_id, position)
);
