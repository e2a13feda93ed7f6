-- 0007: observations and imaging studies are keyed by (report_id, ordinal).
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Their text id is the report id + '-' + ordinal, so the old primary key on id and the index on
-- report_id indexed the same fact twice, and every observation row (eight per lab report, the
-- bulk of what ingest writes) paid for both. One primary key on (report_id, ordinal) serves both
-- uses: "the results of these reports" is a prefix scan of it, and a read by FHIR id is parsed
-- into its two parts (pkg/httpapi, loadOne). The id column stays: it is the FHIR id and the
-- tie-breaker of the patient/date index that searches page on. Measured with `mrhub bench ingest
-- -n 60000` on a 2-core machine, alternating old and new schema: 2,326-2,353 -> 2,459-2,520
-- reports/s end to end, and the raw COPY of the same rows 4,396-4,403 -> 4,622-4,644.
--
-- Upgrading: ADD PRIMARY KEY builds the index with observations locked (minutes on tens of
-- millions of rows), and hubs older than this migration read Observation/{id} by the id column,
-- which no index covers any more: upgrade every hub together (stop, migrate, start).
ALTER TABLE observations DROP CONSTRAINT observations_pkey;
ALTER TABLE observations ADD PRIMARY KEY (report_id, ordinal);
DROP INDEX observations_report;

ALTER TABLE imaging_studies DROP CONSTRAINT imaging_studies_pkey;
ALTER TABLE imaging_studies ADD PRIMARY KEY (report_id, ordinal);
DROP INDEX imaging_studies_report;
