-- 0009: publishing figures (GET /api/v1/stats/publishing), kept as rollups by the reports
-- transaction (index.Store.Apply) for every message of mrhub.reports.v1 it applies, indexed or
-- dead-lettered. Forward-only. Never edit a migration that has landed; add a new numbered file.
--
-- Once per message: publishing_marks holds, per topic partition, the offset after the last
-- message counted. A message is counted only when its offset is at or past the mark, in the
-- transaction that moves the mark, whichever consumer group applies it; a redelivery or a
-- reindex (mrhub reindex replays the topic under another consumer name) finds it below the mark
-- and leaves the figures as they are.
--
-- Rows are per China calendar day of indexing, publishing institution (header mrhub-source, ''
-- when missing) and partition: each partition is applied by one consumer at a time, so
-- consumers of different partitions never wait on each other's rollup rows. Queries sum over
-- partitions.
CREATE TABLE publishing_marks (
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

CREATE TABLE publishing_daily (
    day              date   NOT NULL,
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
    PRIMARY KEY (day, institution, partition)
);

CREATE TABLE publishing_refusals (
    day         date   NOT NULL,
    institution text   NOT NULL,
    partition   int    NOT NULL,
    code        text   NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (day, institution, partition, code)
);

CREATE TABLE publishing_unmapped (
    day         date   NOT NULL,
    institution text   NOT NULL,
    partition   int    NOT NULL,
    code_system text   NOT NULL,
    code        text   NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (day, institution, partition, code_system, code)
);

-- Delay from issued to indexed as a histogram: bucket b counts delays below the b-th bound of
-- index.DelayBounds (the last bucket: at or above the last bound).
CREATE TABLE publishing_delays (
    day         date     NOT NULL,
    institution text     NOT NULL,
    partition   int      NOT NULL,
    bucket      smallint NOT NULL,
    n           bigint   NOT NULL,
    PRIMARY KEY (day, institution, partition, bucket)
);
