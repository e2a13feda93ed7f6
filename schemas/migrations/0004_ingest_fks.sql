-- 0004: no per-row foreign-key checks on the ingest hot path.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Every batch inserts ~8 observation rows and one version row per report with COPY; each row's
-- REFERENCES reports(id) fired a referential-integrity trigger that looked the report up again
-- (the report was written a moment earlier by the same transaction). Those lookups were a large
-- share of the ingest transaction's CPU. The child rows are written only by pkg/index
-- (Store.apply), which inserts the parent report first and never deletes reports; orphans are
-- checked by the property test of consumers/reports (its index snapshot counts orphans) instead
-- of by a trigger on every row.
ALTER TABLE observations    DROP CONSTRAINT observations_report_id_fkey;
ALTER TABLE imaging_studies DROP CONSTRAINT imaging_studies_report_id_fkey;
ALTER TABLE report_versions DROP CONSTRAINT report_versions_report_id_fkey;
