-- Benchmark fixtures, created in every benchmark database after CREATE EXTENSION psqlqueue.
--
-- bench_raw: the raw limit. psqlqueue.messages' columns but for the lease's and the groups', keyed
-- by id alone (messages: (queue_id, id)), with the same receive and expiry indexes, written by
-- plain statements with no function in between. Like
-- psqlqueue.messages (since 0.15.0) it has no foreign key to its queues: the raw INSERTs lock
-- the queue's row FOR KEY SHARE once per statement, as psqlqueue's writers do, which gives the
-- same guarantee (the queue exists until commit) at the cheapest: checked by a key on every
-- row, the raw 10-row INSERT ran 1.5 times the instructions.
CREATE TABLE bench_queues (id text PRIMARY KEY);
INSERT INTO bench_queues VALUES ('bench');
CREATE TABLE bench_raw (
    id                text        PRIMARY KEY,
    queue_id          text        NOT NULL,
    label             text,
    body              text        NOT NULL,
    attributes        jsonb       NOT NULL DEFAULT '{}',
    delivery_attempts int         NOT NULL DEFAULT 0,
    visible_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL
);
CREATE INDEX bench_raw_queue_visible_idx ON bench_raw (queue_id, visible_at, id);
CREATE INDEX bench_raw_expires_idx ON bench_raw (expires_at);

-- bench_orig: the original Go psqlqueue's storage pattern: acked messages stay, marked expired;
-- consumers pick by creation order among unexpired, scheduled rows.
CREATE TABLE bench_orig (
    id                text        PRIMARY KEY,
    queue_id          text        NOT NULL,
    label             text,
    body              text        NOT NULL,
    attributes        jsonb,
    delivery_attempts int         NOT NULL DEFAULT 0,
    expired_at        timestamptz NOT NULL,
    scheduled_at      timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- Its pick orders by creation: this index serves that order (it still steps over acked rows).
CREATE INDEX bench_orig_queue_idx ON bench_orig (queue_id, created_at);

SELECT psqlqueue.create_queue('bench', 30, 86400);

-- Topics fanout-1, fanout-10 and fanout-100, each with that many subscribed queues; the first
-- half (rounded up) of each topic's subscriptions match kind = 'match', the rest do not.
SELECT psqlqueue.create_topic('fanout-' || n) FROM (VALUES (1), (10), (100)) AS t(n);
SELECT psqlqueue.create_queue(format('fanout-%s-q%s', n, i), 30, 86400)
  FROM (VALUES (1), (10), (100)) AS t(n), generate_series(1, n) AS i;
SELECT psqlqueue.create_subscription(format('fanout-%s-s%s', n, i), 'fanout-' || n, format('fanout-%s-q%s', n, i),
           CASE WHEN i <= (n + 1) / 2 THEN '{"kind": ["match"]}' ELSE '{"kind": ["other"]}' END::jsonb)
  FROM (VALUES (1), (10), (100)) AS t(n), generate_series(1, n) AS i;
