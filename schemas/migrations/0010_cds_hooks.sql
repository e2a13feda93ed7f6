-- 0010: CDS Hooks cards and their feedback.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- POST /cds-services/{id} answers an EHR's order-select or order-sign hook with one card per
-- ordered item that has a result recognisable now. Each card shown is also a reminder (the
-- reminders table, as GET /api/v1/recognizable records them); cds_cards keeps what the feedback
-- needs to turn the clinician's answer into a decision: who was shown what, for which patient,
-- item and report. The feedback (POST /cds-services/{id}/feedback) names only the card's uuid.
-- Feedback is idempotent on (card, outcome): an accepted card is the decision
-- cds.<uuid>.accepted (recognised), an overridden one with a reason cds.<uuid>.overridden
-- (declined), in the decisions table like any other (via 'cds-hooks'); an override without a
-- reason records no decision. cds_feedback keeps one row per (card, outcome) received.
CREATE TABLE cds_cards (
    uuid          uuid PRIMARY KEY,
    service       text NOT NULL,                                 -- the CDS service id that showed it
    hook_instance text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    institution   text NOT NULL REFERENCES institutions(code),   -- the caller's token institution
    token_id      bigint NOT NULL REFERENCES api_tokens(id),
    clinician     text NOT NULL,                                 -- context.userId
    department    text NOT NULL,                                 -- PractitionerRole / Encounter, or 'unspecified'
    patient_id    bigint NOT NULL REFERENCES patients(id),
    item          text NOT NULL REFERENCES items(code),
    report_id     text NOT NULL REFERENCES reports(id),
    suggestion    uuid NOT NULL,                                 -- the "reuse this result" suggestion
    orders        text[] NOT NULL                                -- the draft orders it deletes (Type/id)
);
CREATE INDEX cds_cards_institution_at ON cds_cards(institution, at);

CREATE TABLE cds_feedback (
    card          uuid NOT NULL REFERENCES cds_cards(uuid),
    outcome       text NOT NULL CHECK (outcome IN ('accepted','overridden')),
    received_at   timestamptz NOT NULL DEFAULT now(),
    token_id      bigint NOT NULL REFERENCES api_tokens(id),
    outcome_at    timestamptz NOT NULL,                          -- outcomeTimestamp
    reason        integer,                                       -- the override reason, when given
    decision_id   text REFERENCES decisions(id),                 -- NULL: an override without a reason
    PRIMARY KEY (card, outcome)
);

ALTER TABLE decisions DROP CONSTRAINT decisions_via_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_via_check CHECK (via IN ('api','kafka','cds-hooks'));
