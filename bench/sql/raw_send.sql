-- The raw limit of send: one INSERT, the queue's row locked for it (fixtures.sql, bench_raw).
INSERT INTO bench_raw (id, queue_id, body, attributes, visible_at, expires_at, created_at)
SELECT gen_random_uuid()::text, q.id, 'payload', '{"k": "v"}', now(), now() + interval '1 day', now()
  FROM bench_queues AS q WHERE q.id = 'bench' FOR KEY SHARE OF q;
