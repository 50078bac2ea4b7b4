-- Tops the benchmark tables up to :fill deliverable messages each (fixture only: direct inserts):
-- queue 'bench', the raw limit's table and the original pattern's table.
\ir fill_queue.sql
DELETE FROM bench_raw WHERE delivery_attempts > 0;
INSERT INTO bench_raw (id, queue_id, body, attributes, visible_at, expires_at, created_at)
SELECT gen_random_uuid()::text, 'bench', 'payload', '{"k": "v"}', now() - interval '1 s', now() + interval '1 day', now()
  FROM generate_series(1, greatest(0, :fill - (SELECT count(*) FROM bench_raw)));
TRUNCATE bench_orig;
INSERT INTO bench_orig (id, queue_id, body, attributes, expired_at, scheduled_at, created_at, updated_at)
SELECT gen_random_uuid()::text, 'bench', 'payload', '{"k": "v"}', now() + interval '1 day', now() - interval '1 s',
       now() + i * interval '1 microsecond', now()
  FROM generate_series(1, :fill) AS i;
