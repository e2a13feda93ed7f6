-- 0006: which identity key this database's hashes were made with.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Every identifier is stored as HMAC-SHA256 under the operator's key (MRHUB_ID_KEY). A hub
-- started with another key would find no patient it knows: every report would create a new
-- patient, silently. The first hub to start records the key's fingerprint (a keyed hash of a
-- fixed label: it identifies the key and reveals nothing of it); a hub whose key gives another
-- fingerprint refuses to start (pkg/identity.CheckKey). A database upgraded to 0006 records the
-- key of the first hub started after the upgrade.
CREATE TABLE identity_key (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    fingerprint bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
