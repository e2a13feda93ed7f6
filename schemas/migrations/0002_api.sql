-- 0002: the clinician query side: API tokens, reminders shown, retrievals (调阅) audit, and the
-- indexes that keep "recognisable now" and FHIR search fast as the index grows.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.

-- ---------------------------------------------------------------- authentication
-- Bearer tokens. Only SHA-256 of the token is stored; the token is shown once, at creation.
CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,              -- SHA-256 of the bearer token
    role        text NOT NULL CHECK (role IN ('his','clinician','bureau','admin')),
    org         text NOT NULL,                      -- institution code (his, clinician), district or institution (bureau), any (admin)
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- ---------------------------------------------------------------- audit
-- One row per item shown by GET /api/v1/recognizable (the "pop-up" reminder).
CREATE TABLE reminders (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    institution  text NOT NULL,                     -- the requesting clinician's institution
    token_id     bigint NOT NULL REFERENCES api_tokens(id),
    patient_id   bigint NOT NULL REFERENCES patients(id),
    item         text NOT NULL REFERENCES items(code),
    report_id    text REFERENCES reports(id),       -- the recognisable result shown; NULL when none
    recognizable boolean NOT NULL,
    reason       text NOT NULL DEFAULT ''           -- why not, when not recognisable
);
CREATE INDEX reminders_institution_at ON reminders(institution, at);

-- One row per opening of a prior report (FHIR read or GET /api/v1/reports/{id}).
CREATE TABLE retrievals (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    token_id     bigint NOT NULL REFERENCES api_tokens(id),
    institution  text NOT NULL,                     -- the reader's institution
    patient_id   bigint NOT NULL REFERENCES patients(id),
    report_id    text NOT NULL REFERENCES reports(id),
    performer    text NOT NULL,                     -- the report's issuing institution
    remote_addr  text NOT NULL DEFAULT '',
    via          text NOT NULL                      -- 'fhir' | 'api'
);
CREATE INDEX retrievals_institution_at ON retrievals(institution, at);
CREATE INDEX retrievals_report ON retrievals(report_id);

-- ---------------------------------------------------------------- query indexes
-- Recognisable now and FHIR search by patient: every report of a patient (current or withdrawn,
-- mapped or not) in one index range, newest first, with the id as the keyset tie-breaker.
CREATE INDEX reports_patient_clock_id ON reports(patient_id, clock DESC, id DESC);
-- FHIR search without a patient (by code, performer, status): keyset order over the whole index.
CREATE INDEX reports_clock_id ON reports(clock DESC, id DESC);
-- identifier=system|value on DiagnosticReport.
CREATE INDEX reports_identifier ON reports(identifier_value, identifier_system);
-- Observation search by patient in keyset order.
CREATE INDEX observations_patient_effective ON observations(patient_id, effective DESC, id DESC);
-- ImagingStudy search by patient and by identifier.
CREATE INDEX imaging_studies_patient ON imaging_studies(patient_id, started DESC, id DESC);
CREATE INDEX imaging_studies_uid ON imaging_studies(study_uid) WHERE study_uid <> '';
CREATE INDEX imaging_studies_accession ON imaging_studies(accession) WHERE accession <> '';
-- code=<catalogue item> without a patient.
CREATE INDEX reports_item_clock ON reports(item, clock DESC, id DESC) WHERE current;
