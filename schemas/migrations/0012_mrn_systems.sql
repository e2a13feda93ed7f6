-- 0012: each institution's patient-number (MRN) identifier systems, so that the hub knows who
-- issued an MRN a report carries (docs/rules.md "Who issued an identifier"). A system names one
-- institution (catalog.Region.Validate checks it before `mrhub seed` writes the region).
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
ALTER TABLE institutions ADD COLUMN mrn_systems text[] NOT NULL DEFAULT '{}';
