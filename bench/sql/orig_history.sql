-- The original pattern's steady state: acked messages stay in its table (marked expired) until
-- someone calls cleanup. :acked of them, older than every live message, lead its queue.
INSERT INTO bench_orig (id, queue_id, body, attributes, expired_at, scheduled_at, created_at, updated_at)
SELECT gen_random_uuid()::text, 'bench', 'payload', '{"k": "v"}', now() - interval '1 s', now() - interval '1 s',
       now() - interval '1 hour' + i * interval '1 microsecond', now()
  FROM generate_series(1, :acked) AS i;
