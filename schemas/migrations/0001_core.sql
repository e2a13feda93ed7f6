-- 0001: reference data, master patient index, the report index, outbox, bookkeeping.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.

-- ---------------------------------------------------------------- reference data
CREATE TABLE districts (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    name_en     text NOT NULL DEFAULT ''
);

CREATE TABLE communities (          -- 医共体: a lead hospital with township/community branches
    code        text PRIMARY KEY,
    name        text NOT NULL,
    name_en     text NOT NULL DEFAULT '',
    district    text NOT NULL REFERENCES districts(code),
    lead_code   text NOT NULL       -- institutions.code of the lead hospital (no FK: loaded together)
);

CREATE TABLE institutions (
    code        text PRIMARY KEY,   -- unified social credit code (18 chars) or region institution code
    name        text NOT NULL,
    name_en     text NOT NULL DEFAULT '',
    kind        text NOT NULL CHECK (kind IN ('hospital','township','community','city')),
    district    text NOT NULL REFERENCES districts(code),
    community   text REFERENCES communities(code),
    region_code text NOT NULL DEFAULT ''  -- the region's own institution code, also accepted as an alias
);
CREATE UNIQUE INDEX institutions_region_code ON institutions(region_code) WHERE region_code <> '';

CREATE TABLE items (                 -- 互认项目目录
    code          text PRIMARY KEY,
    name          text NOT NULL,
    name_en       text NOT NULL DEFAULT '',
    kind          text NOT NULL CHECK (kind IN ('lab','imaging')),
    code_system   text NOT NULL DEFAULT '',   -- e.g. http://loinc.org
    std_code      text NOT NULL DEFAULT '',   -- LOINC or national code
    validity_days integer NOT NULL CHECK (validity_days > 0),
    price_cents   bigint NOT NULL CHECK (price_cents >= 0),
    scope         text NOT NULL CHECK (scope IN ('region','province','national')),
    department    text NOT NULL DEFAULT ''
);

CREATE TABLE code_maps (             -- (institution, local system|code) -> catalogue item
    institution text NOT NULL REFERENCES institutions(code),
    system      text NOT NULL,       -- '' when the hospital sends codes without a system
    code        text NOT NULL,
    item        text NOT NULL REFERENCES items(code),
    PRIMARY KEY (institution, system, code)
);

CREATE TABLE qualifications (        -- HR mark: passed external quality assessment for an item
    institution text NOT NULL REFERENCES institutions(code),
    item        text NOT NULL REFERENCES items(code),
    scope       text NOT NULL CHECK (scope IN ('region','province','national')),
    valid_from  date NOT NULL,
    valid_to    date NOT NULL,
    PRIMARY KEY (institution, item, valid_from),
    CHECK (valid_to >= valid_from)
);

CREATE TABLE decline_reasons (
    code           integer PRIMARY KEY,
    name           text NOT NULL,
    name_en        text NOT NULL,
    counts_in_rate boolean NOT NULL,
    note_required  boolean NOT NULL DEFAULT false
);

-- ---------------------------------------------------------------- master patient index
CREATE TABLE patients (
    id           bigserial PRIMARY KEY,
    provisional  boolean NOT NULL DEFAULT true,  -- known only by an MRN so far
    merged_into  bigint REFERENCES patients(id),
    name         text NOT NULL DEFAULT '',
    gender       text NOT NULL DEFAULT '',
    birth_date   date,
    phone_hash   bytea,                          -- HMAC of the normalised phone number
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_demographics ON patients(birth_date, gender, name) WHERE merged_into IS NULL;

-- kind: 'nid' resident ID, 'ins' medical-insurance number, 'mrn' an institution's patient number.
-- value_hash is HMAC-SHA256(MRHUB_ID_KEY, kind|issuer|value); plaintext is never stored.
CREATE TABLE patient_identifiers (
    kind        text NOT NULL CHECK (kind IN ('nid','ins','mrn')),
    issuer      text NOT NULL DEFAULT '',        -- institution code for 'mrn', '' otherwise
    value_hash  bytea NOT NULL,
    masked      text NOT NULL,                   -- for display, e.g. 3302**********1234
    patient_id  bigint NOT NULL REFERENCES patients(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, issuer, value_hash)
);
CREATE INDEX patient_identifiers_patient ON patient_identifiers(patient_id);

CREATE TABLE identity_reviews (      -- probable matches: never merged automatically
    id          bigserial PRIMARY KEY,
    patient_a   bigint NOT NULL REFERENCES patients(id),
    patient_b   bigint NOT NULL REFERENCES patients(id),
    reason      text NOT NULL,                   -- e.g. 'name+birth_date+gender(+phone)'
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open','accepted','rejected')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz,
    decided_by  text,
    UNIQUE (patient_a, patient_b)
);

-- ---------------------------------------------------------------- the report index
-- One row per canonical report. id is derived from natural_key (hex of SHA-256, 32 chars), so every
-- hub instance, and a reindex, names the same report the same way.
CREATE SEQUENCE reports_seq;
CREATE TABLE reports (
    id              text PRIMARY KEY,
    natural_key     text NOT NULL UNIQUE,
    performer       text NOT NULL REFERENCES institutions(code),
    identifier_system text NOT NULL DEFAULT '',
    identifier_value  text NOT NULL DEFAULT '',
    patient_id      bigint NOT NULL REFERENCES patients(id),
    item            text REFERENCES items(code),   -- NULL: unmapped local code, never recognisable
    kind            text NOT NULL DEFAULT '',      -- lab | imaging | '' (unknown)
    code_system     text NOT NULL DEFAULT '',
    code            text NOT NULL DEFAULT '',
    code_display    text NOT NULL DEFAULT '',
    category        text NOT NULL DEFAULT '',      -- first category code (LAB, RAD, …)
    status          text NOT NULL,
    current         boolean NOT NULL,              -- false when withdrawn (cancelled/entered-in-error)
    effective       timestamptz,                   -- effective[x] (start of a period)
    issued          timestamptz,
    clock           timestamptz NOT NULL,          -- validity counted from here: effective, else issued
    hr_scope        text NOT NULL DEFAULT '',      -- HR mark scope carried by the report, if any
    version         integer NOT NULL,              -- current version number (report_versions.version)
    max_version     integer NOT NULL,              -- highest version number stored in history
    version_rank    text NOT NULL,                 -- sortable ordering key of the current version
    content_hash    bytea NOT NULL,
    source          text NOT NULL,                 -- publisher (mrhub-source) of the current version
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    seq             bigint NOT NULL DEFAULT nextval('reports_seq') -- change sequence, for stable paging and sync
);
CREATE INDEX reports_code ON reports(code_system, code);
CREATE INDEX reports_performer ON reports(performer, clock DESC);

-- Every distinct version ever received (history), including older ones that arrived late.
CREATE TABLE report_versions (
    report_id     text NOT NULL REFERENCES reports(id),
    version       integer NOT NULL,
    content_hash  bytea NOT NULL,
    status        text NOT NULL,
    version_rank  text NOT NULL,
    meta_version_id text NOT NULL DEFAULT '',
    last_updated  timestamptz,
    issued        timestamptz,
    source        text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    kafka_topic   text NOT NULL DEFAULT '',
    kafka_partition integer NOT NULL DEFAULT -1,
    kafka_offset  bigint NOT NULL DEFAULT -1,
    resource      json COMPRESSION lz4 NOT NULL,  -- the DiagnosticReport as received (json keeps it byte for byte; lz4 is several times cheaper than pglz)
    PRIMARY KEY (report_id, version),
    UNIQUE (report_id, content_hash)
);

-- Key values of the current version's Observations (and imaging studies) for search and trend.
CREATE TABLE observations (
    id            text PRIMARY KEY,               -- report id + '-' + ordinal
    report_id     text NOT NULL REFERENCES reports(id),
    ordinal       integer NOT NULL,
    patient_id    bigint NOT NULL,
    item          text,                           -- catalogue item of the observation or its report
    code_system   text NOT NULL DEFAULT '',
    code          text NOT NULL DEFAULT '',
    code_display  text NOT NULL DEFAULT '',
    status        text NOT NULL,
    effective     timestamptz,
    value_num     double precision,
    value_text    text,
    unit          text NOT NULL DEFAULT '',
    ref_low       double precision,
    ref_high      double precision,
    interpretation text NOT NULL DEFAULT '',      -- H, L, HH, LL, A, N …
    resource      json NOT NULL
);
CREATE INDEX observations_report ON observations(report_id);

CREATE TABLE imaging_studies (
    id            text PRIMARY KEY,               -- report id + '-' + ordinal
    report_id     text NOT NULL REFERENCES reports(id),
    ordinal       integer NOT NULL,
    patient_id    bigint NOT NULL,
    study_uid     text NOT NULL DEFAULT '',
    accession     text NOT NULL DEFAULT '',
    modality      text NOT NULL DEFAULT '',
    started       timestamptz,
    resource      json NOT NULL
);
CREATE INDEX imaging_studies_report ON imaging_studies(report_id);

-- ---------------------------------------------------------------- outbox and bookkeeping
-- Written in the same transaction as the index change; the relay publishes rows in id order and
-- deletes them after the broker acknowledged them.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    key         bytea NOT NULL,
    value       bytea,                            -- NULL = tombstone
    headers     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Highest offset whose effects are committed, per consumer group/topic/partition. Written in the
-- batch's transaction: a batch redelivered after a crash before the Kafka commit is recognised.
CREATE TABLE ingest_offsets (
    consumer    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
