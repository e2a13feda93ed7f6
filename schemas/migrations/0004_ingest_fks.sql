-- 0004: no per-row foreign-key checks on the ingest hot path.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Every batch COPYs one report row, one version row and ~8 observation rows per report. Each
-- REFERENCES fired a referential-integrity trigger per row: a lookup of the report written a
-- moment earlier by the same transaction (children), or of an institution or catalogue item
-- with a FOR KEY SHARE row lock (reports), which concurrent consumers turned into multixacts on
-- the same few reference rows. Those checks were a large share of the ingest transaction's CPU.
--
-- What guarantees the references instead: the child rows are written only by pkg/index
-- (Store.apply), which inserts the parent report first in the same transaction and never
-- deletes reports; a report's performer and item come from the catalogue the profile checked
-- the message against (an unknown performer is dead-lettered, an unmapped code leaves item
-- NULL), and institutions and items are only ever added or updated by `mrhub seed`, never
-- deleted. The property test of consumers/reports counts orphans in its index snapshot.
-- reports.patient_id keeps its foreign key: it is the one reference that changes after ingest
-- (merges move reports between patients).
ALTER TABLE observations    DROP CONSTRAINT observations_report_id_fkey;
ALTER TABLE imaging_studies DROP CONSTRAINT imaging_studies_report_id_fkey;
ALTER TABLE report_versions DROP CONSTRAINT report_versions_report_id_fkey;
ALTER TABLE reports         DROP CONSTRAINT reports_performer_fkey;
ALTER TABLE reports         DROP CONSTRAINT reports_item_fkey;
