-- The raw limit of send_batch of 10: one INSERT ... SELECT of 10 rows, raw_send.sql's row ten
-- times, the queue's row locked once for them (fixtures.sql, bench_raw).
INSERT INTO bench_raw (id, queue_id, body, attributes, visible_at, expires_at, created_at)
SELECT gen_random_uuid()::text, q.id, 'payload', '{"k": "v"}', now(), now() + interval '1 day', now()
  FROM (SELECT b.id FROM bench_queues AS b WHERE b.id = 'bench' FOR KEY SHARE) AS q, generate_series(1, 10);
