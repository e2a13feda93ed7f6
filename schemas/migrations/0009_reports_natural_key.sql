-- 0009: reports are unique by id alone.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- A report's id is the first 128 bits of SHA-256 over its natural key (pkg/profile), so the
-- primary key on id already says that no two rows share a natural key, short of a collision of
-- 128-bit hashes. The UNIQUE constraint on natural_key indexed the same fact a second time, with a
-- key of about a hundred bytes, and every report ingest writes paid for it. Nothing looks reports
-- up by natural key; the column stays, as the readable form of what the id is made from.
ALTER TABLE reports DROP CONSTRAINT IF EXISTS reports_natural_key_key;
