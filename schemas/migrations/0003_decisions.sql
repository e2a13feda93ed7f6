-- 0003: recognition decisions (互认/不互认) and the bureau's statistics rollups.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Statistics are China-time (Asia/Shanghai) calendar days. Every figure the stats API serves is
-- read from stats_rollup, which is kept in the same transaction as the row that changes it, by the
-- statement-level triggers below (decisions: insert and revoke; reminders and retrievals: insert).
-- stats_rebuild() recomputes it from scratch.

-- ---------------------------------------------------------------- decisions
CREATE TABLE decisions (
    id             text PRIMARY KEY,                  -- the sender's decision id (idempotency key)
    institution    text NOT NULL REFERENCES institutions(code),  -- deciding institution
    department     text NOT NULL,
    clinician      text NOT NULL,
    patient_id     bigint NOT NULL REFERENCES patients(id),      -- the patient the report belongs to
    item           text NOT NULL REFERENCES items(code),         -- ordered catalogue item
    report_id      text NOT NULL REFERENCES reports(id),         -- the prior report's canonical id
    outcome        text NOT NULL CHECK (outcome IN ('recognized','declined')),
    reason         integer REFERENCES decline_reasons(code)
                   CHECK (reason IN (1,2,3,4,5,6,98,99)),  -- platform-owned, fixed: one rollup column each
    note           text NOT NULL DEFAULT '',
    decided_at     timestamptz NOT NULL,
    price_cents    bigint NOT NULL,                   -- the item's catalogue price when decided (savings)
    counts_in_rate boolean NOT NULL,                  -- recognized, or declined with a counting reason
    content_hash   bytea NOT NULL,                    -- keyed hash of the canonical payload (409 on a different one)
    via            text NOT NULL CHECK (via IN ('api','kafka')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    CHECK ((outcome = 'declined') = (reason IS NOT NULL))
);
CREATE INDEX decisions_report ON decisions(report_id);
CREATE INDEX decisions_institution_decided ON decisions(institution, decided_at);

-- ---------------------------------------------------------------- rollups
-- grain 'd' = one China calendar day (period = that day), 'm' = one month (period = its first day).
-- level says which columns are kept: bit 1 = department, bit 2 = item; a column not kept is ''.
-- Every change is written at all 8 (grain, level) combinations, so a query reads the coarsest
-- rows that answer it. shard spreads the hot rows of concurrent reminder/retrieval writers
-- (decisions use shard 0); queries sum over it.
CREATE TABLE stats_rollup (
    grain                 "char" NOT NULL CHECK (grain IN ('d','m')),
    level                 smallint NOT NULL CHECK (level BETWEEN 0 AND 3),
    period                date NOT NULL,
    institution           text NOT NULL,
    department            text NOT NULL,
    item                  text NOT NULL,
    shard                 smallint NOT NULL DEFAULT 0,
    decisions             bigint NOT NULL DEFAULT 0,   -- non-revoked decisions
    recognized            bigint NOT NULL DEFAULT 0,
    declined_counting     bigint NOT NULL DEFAULT 0,
    declined_not_counting bigint NOT NULL DEFAULT 0,
    revoked               bigint NOT NULL DEFAULT 0,
    reminders             bigint NOT NULL DEFAULT 0,
    retrievals            bigint NOT NULL DEFAULT 0,
    savings_cents         bigint NOT NULL DEFAULT 0,
    -- non-revoked declines by platform reason (the reasons are fixed: decisions.reason's CHECK).
    -- Columns rather than a (…, reason) side table: a query reads one row per group, not nine.
    reason_1              bigint NOT NULL DEFAULT 0,
    reason_2              bigint NOT NULL DEFAULT 0,
    reason_3              bigint NOT NULL DEFAULT 0,
    reason_4              bigint NOT NULL DEFAULT 0,
    reason_5              bigint NOT NULL DEFAULT 0,
    reason_6              bigint NOT NULL DEFAULT 0,
    reason_98             bigint NOT NULL DEFAULT 0,
    reason_99             bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (level, grain, period, institution, department, item, shard)
);

-- The (grain, level) combinations every change is written at.
CREATE TABLE stats_levels (grain "char" NOT NULL, level smallint NOT NULL, PRIMARY KEY (grain, level));
INSERT INTO stats_levels VALUES ('d',0),('d',1),('d',2),('d',3),('m',0),('m',1),('m',2),('m',3);

CREATE FUNCTION stats_day(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (t AT TIME ZONE 'Asia/Shanghai')::date $$;

-- stats_add adds delta rows (day, institution, department, item, sign, kind-specific figures) to
-- the rollup, in key order (so that concurrent writers do not deadlock). p_reason is the decline
-- reason of a delta row (NULL when none): its declines (dc + dnc) go to that reason's column.
-- d: a temporary table / CTE is not passable, so callers pass arrays.
CREATE FUNCTION stats_add(
    p_day date[], p_inst text[], p_dept text[], p_item text[], p_shard smallint,
    p_decisions bigint[], p_recognized bigint[], p_dc bigint[], p_dnc bigint[], p_revoked bigint[],
    p_reminders bigint[], p_retrievals bigint[], p_savings bigint[], p_reason integer[]
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO stats_rollup AS s (grain, level, period, institution, department, item, shard,
        decisions, recognized, declined_counting, declined_not_counting, revoked, reminders, retrievals, savings_cents,
        reason_1, reason_2, reason_3, reason_4, reason_5, reason_6, reason_98, reason_99)
    SELECT l.grain, l.level,
           CASE l.grain WHEN 'd' THEN x.day ELSE date_trunc('month', x.day)::date END,
           x.inst,
           CASE WHEN l.level & 1 = 1 THEN x.dept ELSE '' END,
           CASE WHEN l.level & 2 = 2 THEN x.item ELSE '' END,
           p_shard,
           sum(x.dec), sum(x.rec), sum(x.dc), sum(x.dnc), sum(x.rev), sum(x.rem), sum(x.ret), sum(x.sav),
           COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 1), 0), COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 2), 0),
           COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 3), 0), COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 4), 0),
           COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 5), 0), COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 6), 0),
           COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 98), 0), COALESCE(sum(x.dc + x.dnc) FILTER (WHERE x.reason = 99), 0)
    FROM unnest(p_day, p_inst, p_dept, p_item, p_decisions, p_recognized, p_dc, p_dnc, p_revoked, p_reminders, p_retrievals, p_savings, p_reason)
           AS x(day, inst, dept, item, dec, rec, dc, dnc, rev, rem, ret, sav, reason)
    CROSS JOIN stats_levels l
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 2, 1, 3, 4, 5, 6
    ON CONFLICT (level, grain, period, institution, department, item, shard) DO UPDATE SET
        decisions = s.decisions + EXCLUDED.decisions,
        recognized = s.recognized + EXCLUDED.recognized,
        declined_counting = s.declined_counting + EXCLUDED.declined_counting,
        declined_not_counting = s.declined_not_counting + EXCLUDED.declined_not_counting,
        revoked = s.revoked + EXCLUDED.revoked,
        reminders = s.reminders + EXCLUDED.reminders,
        retrievals = s.retrievals + EXCLUDED.retrievals,
        savings_cents = s.savings_cents + EXCLUDED.savings_cents,
        reason_1 = s.reason_1 + EXCLUDED.reason_1,
        reason_2 = s.reason_2 + EXCLUDED.reason_2,
        reason_3 = s.reason_3 + EXCLUDED.reason_3,
        reason_4 = s.reason_4 + EXCLUDED.reason_4,
        reason_5 = s.reason_5 + EXCLUDED.reason_5,
        reason_6 = s.reason_6 + EXCLUDED.reason_6,
        reason_98 = s.reason_98 + EXCLUDED.reason_98,
        reason_99 = s.reason_99 + EXCLUDED.reason_99;
$$;

-- Decisions inserted: each adds itself.
CREATE FUNCTION stats_decisions_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_add(array_agg(stats_day(decided_at)), array_agg(institution), array_agg(department), array_agg(item), 0::smallint,
        array_agg(CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END::bigint),
        array_agg(CASE WHEN revoked_at IS NULL AND outcome = 'recognized' THEN 1 ELSE 0 END::bigint),
        array_agg(CASE WHEN revoked_at IS NULL AND outcome = 'declined' AND counts_in_rate THEN 1 ELSE 0 END::bigint),
        array_agg(CASE WHEN revoked_at IS NULL AND outcome = 'declined' AND NOT counts_in_rate THEN 1 ELSE 0 END::bigint),
        array_agg(CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END::bigint),
        array_agg(0::bigint), array_agg(0::bigint),
        array_agg(CASE WHEN revoked_at IS NULL AND outcome = 'recognized' THEN price_cents ELSE 0 END),
        array_agg(CASE WHEN revoked_at IS NULL THEN reason END))
    FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER decisions_stats_insert AFTER INSERT ON decisions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_decisions_inserted();

-- Decisions revoked (revoked_at set): each takes itself out of every figure but `revoked`.
-- Only revocation may change a decision; other columns are immutable (enforced by the writer).
CREATE FUNCTION stats_decisions_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_add(array_agg(stats_day(n.decided_at)), array_agg(n.institution), array_agg(n.department), array_agg(n.item), 0::smallint,
        array_agg(-1::bigint),
        array_agg(CASE WHEN n.outcome = 'recognized' THEN -1 ELSE 0 END::bigint),
        array_agg(CASE WHEN n.outcome = 'declined' AND n.counts_in_rate THEN -1 ELSE 0 END::bigint),
        array_agg(CASE WHEN n.outcome = 'declined' AND NOT n.counts_in_rate THEN -1 ELSE 0 END::bigint),
        array_agg(1::bigint),
        array_agg(0::bigint), array_agg(0::bigint),
        array_agg(CASE WHEN n.outcome = 'recognized' THEN -n.price_cents ELSE 0 END),
        array_agg(n.reason))
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.revoked_at IS NULL AND n.revoked_at IS NOT NULL
    HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER decisions_stats_revoke AFTER UPDATE ON decisions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_decisions_revoked();

-- Reminders (one row per item shown by /api/v1/recognizable), by the requesting institution.
CREATE FUNCTION stats_reminders_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_add(array_agg(stats_day(at)), array_agg(institution), array_agg(''::text), array_agg(item),
        (1 + pg_backend_pid() % 4)::smallint,
        array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint),
        array_agg(1::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(NULL::integer))
    FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER reminders_stats AFTER INSERT ON reminders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_reminders_inserted();

-- Retrievals (调阅: every opening of a prior report), by the reader's institution and the
-- report's item ('' when unmapped).
CREATE FUNCTION stats_retrievals_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_add(array_agg(stats_day(n.at)), array_agg(n.institution), array_agg(''::text), array_agg(COALESCE(r.item, '')),
        (1 + pg_backend_pid() % 4)::smallint,
        array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint),
        array_agg(0::bigint), array_agg(1::bigint), array_agg(0::bigint), array_agg(NULL::integer))
    FROM new_rows n LEFT JOIN reports r ON r.id = n.report_id HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER retrievals_stats AFTER INSERT ON retrievals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_retrievals_inserted();

-- stats_rebuild recomputes the rollup from decisions, reminders and retrievals (after a bulk
-- load with the triggers disabled, or to repair). Run it alone: it locks the sources.
CREATE FUNCTION stats_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE decisions, reminders, retrievals IN SHARE MODE;
    TRUNCATE stats_rollup;
    CREATE TEMP TABLE stats_src ON COMMIT DROP AS
    SELECT stats_day(decided_at) AS day, institution AS inst, department AS dept, item, 0::smallint AS shard,
           count(*) FILTER (WHERE revoked_at IS NULL) AS dec,
           count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'recognized') AS rec,
           count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'declined' AND counts_in_rate) AS dc,
           count(*) FILTER (WHERE revoked_at IS NULL AND outcome = 'declined' AND NOT counts_in_rate) AS dnc,
           count(*) FILTER (WHERE revoked_at IS NOT NULL) AS rev,
           0::bigint AS rem, 0::bigint AS ret,
           COALESCE(sum(price_cents) FILTER (WHERE revoked_at IS NULL AND outcome = 'recognized'), 0)::bigint AS sav,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 1) AS r1,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 2) AS r2,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 3) AS r3,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 4) AS r4,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 5) AS r5,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 6) AS r6,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 98) AS r98,
           count(*) FILTER (WHERE revoked_at IS NULL AND reason = 99) AS r99
    FROM decisions GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT stats_day(at), institution, '', item, 1::smallint, 0, 0, 0, 0, 0, count(*), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM reminders GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT stats_day(n.at), n.institution, '', COALESCE(r.item, ''), 1::smallint, 0, 0, 0, 0, 0, 0, count(*), 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM retrievals n LEFT JOIN reports r ON r.id = n.report_id GROUP BY 1, 2, 3, 4;

    INSERT INTO stats_rollup (grain, level, period, institution, department, item, shard,
        decisions, recognized, declined_counting, declined_not_counting, revoked, reminders, retrievals, savings_cents,
        reason_1, reason_2, reason_3, reason_4, reason_5, reason_6, reason_98, reason_99)
    SELECT l.grain, l.level,
           CASE l.grain WHEN 'd' THEN x.day ELSE date_trunc('month', x.day)::date END,
           x.inst,
           CASE WHEN l.level & 1 = 1 THEN x.dept ELSE '' END,
           CASE WHEN l.level & 2 = 2 THEN x.item ELSE '' END,
           x.shard, sum(x.dec), sum(x.rec), sum(x.dc), sum(x.dnc), sum(x.rev), sum(x.rem), sum(x.ret), sum(x.sav),
           sum(x.r1), sum(x.r2), sum(x.r3), sum(x.r4), sum(x.r5), sum(x.r6), sum(x.r98), sum(x.r99)
    FROM stats_src x CROSS JOIN stats_levels l
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
    ANALYZE stats_rollup;
END $$;
