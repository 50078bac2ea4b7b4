-- The raw limit of send_batch of 10: one INSERT ... SELECT of 10 rows, raw_send.sql's row ten times.
INSERT INTO bench_raw (id, queue_id, body, attributes, visible_at, expires_at, created_at)
SELECT gen_random_uuid()::text, 'bench', 'payload', '{"k": "v"}', now(), now() + interval '1 day', now()
  FROM generate_series(1, 10);
