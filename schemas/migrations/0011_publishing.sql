-- 0011: publishing figures (GET /api/v1/stats/publishing), kept as rollups by the reports
-- transaction (index.Store.Apply) for every message of mrhub.reports.v1 it applies, indexed or
-- dead-lettered. Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Once per message: publishing_marks holds, per topic partition, the offset after the last
-- message counted. A message is counted only when its offset is at or past the mark, in the
-- transaction that moves the mark, whichever consumer group applies it; a redelivery or a
-- reindex (mrhub reindex replays the topic under another consumer name) finds it below the mark
-- and leaves the figures as they are.
--
-- Rows are per grain and period ('d': a China calendar day of indexing; 'm': its month, period =
-- the month's first day), publishing institution (header mrhub-source, '' when missing) and
-- partition: each partition is applied by one consumer at a time, so consumers of different
-- partitions never wait on each other's rollup rows. Queries read monthly rows for the whole
-- months of a range and daily rows for the rest, and sum over partitions.
CREATE TABLE publishing_marks (
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

CREATE TABLE publishing_rollup (
    grain            "char" NOT NULL,
    period           date   NOT NULL,
    institution      text   NOT NULL,
    partition        int    NOT NULL,
    received         bigint NOT NULL DEFAULT 0, -- messages
    indexed          bigint NOT NULL DEFAULT 0, -- messages accepted by the index
    dead_lettered    bigint NOT NULL DEFAULT 0, -- messages refused (by code: publishing_refusals)
    reports          bigint NOT NULL DEFAULT 0, -- reports in accepted messages, resends included
    new_reports      bigint NOT NULL DEFAULT 0,
    amended          bigint NOT NULL DEFAULT 0, -- a new current version of a stored report
    withdrawn        bigint NOT NULL DEFAULT 0, -- cancelled / entered-in-error became current
    unchanged        bigint NOT NULL DEFAULT 0, -- same content as a stored version
    unmapped         bigint NOT NULL DEFAULT 0, -- new versions whose code maps to no catalogue item
    delay_count      bigint NOT NULL DEFAULT 0, -- new versions with an issued time
    delay_within_24h bigint NOT NULL DEFAULT 0,
    -- delay from issued to indexed as a histogram: delay_bNN counts delays below the NN-th
    -- bound of index.DelayBounds (1 min … 365 days), delay_b25 those at or above the last
    delay_b00        bigint NOT NULL DEFAULT 0,
    delay_b01        bigint NOT NULL DEFAULT 0,
    delay_b02        bigint NOT NULL DEFAULT 0,
    delay_b03        bigint NOT NULL DEFAULT 0,
    delay_b04        bigint NOT NULL DEFAULT 0,
    delay_b05        bigint NOT NULL DEFAULT 0,
    delay_b06        bigint NOT NULL DEFAULT 0,
    delay_b07        bigint NOT NULL DEFAULT 0,
    delay_b08        bigint NOT NULL DEFAULT 0,
    delay_b09        bigint NOT NULL DEFAULT 0,
    delay_b10        bigint NOT NULL DEFAULT 0,
    delay_b11        bigint NOT NULL DEFAULT 0,
    delay_b12        bigint NOT NULL DEFAULT 0,
    delay_b13        bigint NOT NULL DEFAULT 0,
    delay_b14        bigint NOT NULL DEFAULT 0,
    delay_b15        bigint NOT NULL DEFAULT 0,
    delay_b16        bigint NOT NULL DEFAULT 0,
    delay_b17        bigint NOT NULL DEFAULT 0,
    delay_b18        bigint NOT NULL DEFAULT 0,
    delay_b19        bigint NOT NULL DEFAULT 0,
    delay_b20        bigint NOT NULL DEFAULT 0,
    delay_b21        bigint NOT NULL DEFAULT 0,
    delay_b22        bigint NOT NULL DEFAULT 0,
    delay_b23        bigint NOT NULL DEFAULT 0,
    delay_b24        bigint NOT NULL DEFAULT 0,
    delay_b25        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, period, institution, partition)
);

CREATE TABLE publishing_refusals (
    grain       "char" NOT NULL,
    period      date   NOT NULL,
    institution text   NOT NULL,
    partition   int    NOT NULL,
    code        text   NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (grain, period, institution, partition, code)
);

-- Unmapped codes are kept without the partition: a code seen on every partition would
-- otherwise take a row per partition, and the top codes sum them all.
CREATE TABLE publishing_unmapped (
    grain       "char" NOT NULL,
    period      date   NOT NULL,
    institution text   NOT NULL,
    code_system text   NOT NULL,
    code        text   NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (grain, period, institution, code_system, code)
);
