-- 0005: stats_rebuild() writes the rollup in its primary key's order.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- A statistics query reads one range of the primary key (level, grain, period, …) and sums the
-- rows' figures from the heap. The triggers write rows day by day, so the heap follows the
-- period; a rebuild wrote them in hash-aggregate order, so a query over a few weeks of daily rows
-- fetched tens of thousands of heap pages at random (by institution and item over 10M decisions:
-- p50 185-205 ms on a 900 MB table with a 128 MB buffer pool). Written in key order, the same
-- range is a run of adjacent pages. The body is 0003's with ORDER BY added.
CREATE OR REPLACE FUNCTION stats_rebuild() RETURNS void LANGUAGE plpgsql AS $$
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
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ORDER BY 2, 1, 3, 4, 5, 6, 7;   -- the primary key's order (level, grain, period, …)
    ANALYZE stats_rollup;
END $$;
