-- Tops the benchmark tables up to :fill deliverable messages each (fixture only: direct inserts):
-- queue 'bench', the raw limit's table and the original pattern's table.
\ir fill_queue.sql
-- The raw rows arrive in order, a microsecond apart, as a queue written over time has them: its
-- head (visible_at, id) is then in the order the rows lie in the table. With one visible_at for
-- all, the head was ordered by the random uuid, every lease and DELETE touched ten scattered heap
-- pages, and the raw cycle ran below PostgreSQL's real limit: a quarter below with commits cheap,
-- 7% with stock ones (docs/BENCHMARKS.md, history).
DELETE FROM bench_raw WHERE delivery_attempts > 0;
INSERT INTO bench_raw (id, queue_id, body, attributes, visible_at, expires_at, created_at)
SELECT gen_random_uuid()::text, 'bench', 'payload', '{"k": "v"}', now() - interval '1 s' + i * interval '1 microsecond',
       now() + interval '1 day', now()
  FROM generate_series(1, greatest(0, :fill - (SELECT count(*) FROM bench_raw))) AS i;
TRUNCATE bench_orig;
INSERT INTO bench_orig (id, queue_id, body, attributes, expired_at, scheduled_at, created_at, updated_at)
SELECT gen_random_uuid()::text, 'bench', 'payload', '{"k": "v"}', now() + interval '1 day', now() - interval '1 s',
       now() + i * interval '1 microsecond', now()
  FROM generate_series(1, :fill) AS i;
