-- 0008: reminders reach the statistics rollup in folds, not through a trigger on every INSERT.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Every call of GET /api/v1/recognizable records one reminder per item shown. 0003's statement
-- trigger added each INSERT's rows to stats_rollup at all 8 (grain, level) combinations: measured
-- under `mrhub bench query`, that trigger was the largest single cost in the database (about
-- 1.6 ms of CPU for an INSERT of nine rows, which three clinicians' requests were waiting on),
-- and concurrent INSERTs queued on the same rollup rows. Now the rows are only inserted, and
-- stats_fold_reminders() adds every reminder not yet counted, grouped by day, institution and
-- item, in one statement: the hub folds every second, and the statistics endpoint folds before
-- it reads, so the figures it answers include every reminder committed before the request.
--
-- Exactness: stats_folds.folded_through is the highest reminder id counted. Ids come from a
-- sequence, so a transaction can commit a lower id after a higher one is visible. Every
-- transaction that inserts reminders therefore first takes an advisory lock in shared mode
-- (pg_advisory_xact_lock_shared(stats.ReminderLock), in the INSERT's WHERE clause), and the fold
-- (pkg/stats, FoldReminders) takes it exclusively in a transaction of its own, which waits for
-- the inserting transactions in flight, and reads max(id) there: every id up to it is then
-- committed or never will be, and new rows get higher ids. It passes that bound to
-- stats_fold_reminders, which counts (folded_through, bound] and moves the mark, under a row lock
-- on stats_folds so that concurrent folds (several hubs) do not count a row twice. Not LOCK TABLE
-- reminders IN SHARE MODE: that conflicts with VACUUM, and INSERTs would queue behind a fold that
-- waits for a vacuum (an anti-wraparound one cannot be cancelled).
--
-- Upgrading: hubs older than this migration neither take the lock nor fold. Upgrade every hub
-- together (stop, migrate, start); reminders an old hub writes after the migration are folded
-- by new hubs, but one that commits out of order around a fold can be missed, which
-- `SELECT stats_rebuild()` repairs.
CREATE TABLE stats_folds (
    source          text PRIMARY KEY,
    folded_through  bigint NOT NULL
);

-- DROP TRIGGER locks reminders exclusively: every row there now was counted by the trigger.
DROP TRIGGER reminders_stats ON reminders;
DROP FUNCTION stats_reminders_inserted();
INSERT INTO stats_folds VALUES ('reminders', (SELECT COALESCE(max(id), 0) FROM reminders));

-- The referenced rows are never deleted (tokens are revoked, patients merged, reports and items
-- kept), and the only writer takes them from the request's authenticated token, the patient it
-- just read, the catalogue and the reports it just read; four referential-integrity lookups per
-- row were most of what an INSERT without the trigger costs. 0004 reasons the same way for ingest.
ALTER TABLE reminders DROP CONSTRAINT reminders_token_id_fkey;
ALTER TABLE reminders DROP CONSTRAINT reminders_patient_id_fkey;
ALTER TABLE reminders DROP CONSTRAINT reminders_item_fkey;
ALTER TABLE reminders DROP CONSTRAINT reminders_report_id_fkey;

-- stats_fold_reminders counts the reminders with folded_through < id <= p_through into the
-- rollup (shard 1) and returns how many it counted. p_through must have been read as described
-- above.
CREATE FUNCTION stats_fold_reminders(p_through bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    n  bigint;
BEGIN
    -- Nothing new (the common case of a statistics query): answer without taking the row lock,
    -- which would make this a writing transaction.
    SELECT folded_through INTO lo FROM stats_folds WHERE source = 'reminders';
    IF p_through <= lo THEN
        RETURN 0;
    END IF;
    SELECT folded_through INTO lo FROM stats_folds WHERE source = 'reminders' FOR UPDATE;
    IF p_through <= lo THEN
        RETURN 0;
    END IF;
    SELECT count(*) INTO n FROM reminders WHERE id > lo AND id <= p_through;
    PERFORM stats_add(array_agg(g.day), array_agg(g.institution), array_agg(''::text), array_agg(g.item), 1::smallint,
        array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint),
        array_agg(g.cnt), array_agg(0::bigint), array_agg(0::bigint), array_agg(NULL::integer))
    FROM (SELECT stats_day(at) AS day, institution, item, count(*) AS cnt
          FROM reminders WHERE id > lo AND id <= p_through GROUP BY 1, 2, 3) g
    HAVING count(*) > 0;
    UPDATE stats_folds SET folded_through = p_through WHERE source = 'reminders';
    RETURN n;
END $$;

-- stats_rebuild (0005's, which recounts every reminder) must also move the fold mark to the last
-- reminder it counted. 0005's function keeps its body under another name; the new one takes the
-- same locks first (reminders in SHARE mode: no INSERT is in flight), then the fold mark's row
-- lock, rebuilds, and moves the mark.
ALTER FUNCTION stats_rebuild() RENAME TO stats_rebuild_rollup;
CREATE FUNCTION stats_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE decisions, reminders, retrievals IN SHARE MODE;
    PERFORM 1 FROM stats_folds WHERE source = 'reminders' FOR UPDATE;
    PERFORM stats_rebuild_rollup();
    UPDATE stats_folds SET folded_through = (SELECT COALESCE(max(id), 0) FROM reminders) WHERE source = 'reminders';
END $$;
